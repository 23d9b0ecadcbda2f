"""Session routes: create, list, read, update, delete, fork, message history and tree,
summaries, export, turn status, stop."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Query, Request, Response, status

from api.auth import CallerDep
from api.deps import (
    ForksDep,
    HistoryDep,
    IdempotencyKey,
    ImportsDep,
    RunnerDep,
    SessionsDep,
    SummariesDep,
    TurnStatusDep,
    mark_replayed,
    require_json_body,
)
from api.query_filters import metadata_filters
from api.responses import (
    BAD_CURSOR,
    BODY_ERRORS,
    CREATE_UNPROCESSABLE,
    FORK_UNPROCESSABLE,
    IMPORT_ERRORS,
    LIST_ERRORS,
    PATH_UNPROCESSABLE,
    ROUTER_ERRORS,
    SESSION_NOT_FOUND,
    TURN_IN_PROGRESS,
    UPDATE_UNPROCESSABLE,
)
from models.chat import StopResult, TurnStatus
from models.imports import IMPORT_EXAMPLES, ImportReport
from models.message import MessagePage, SessionExport, TreePage
from models.session import ForkRequest, SessionCreate, SessionPage, SessionPublic, SessionUpdate
from models.summary import SummaryPage
from services.session_list import SessionQuery, SortKey

router = APIRouter(prefix="/api/sessions", tags=["sessions"], responses=ROUTER_ERRORS)
IMPORT_PATH = "/api/sessions/import"


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=SessionPublic,
    responses={**CREATE_UNPROCESSABLE, **BODY_ERRORS},
    dependencies=[Depends(require_json_body)],
)
async def create_session(
    sessions: SessionsDep,
    caller: CallerDep,
    response: Response,
    key: IdempotencyKey = None,
    body: Annotated[SessionCreate | None, Body()] = None,
) -> SessionPublic:
    """Create a session; the body (metadata, system_prompt, profile_id) is optional.

    Sent again with the same `Idempotency-Key`, it answers the session it created
    the first time (header `Idempotent-Replayed: true`) instead of a second one.
    """
    body = body or SessionCreate()
    result = await sessions.create_once(body, key, caller)
    mark_replayed(response, result.replayed)
    return result.value


@router.post(
    "/import",
    response_model=ImportReport,
    responses={**IMPORT_ERRORS, **BODY_ERRORS},
    dependencies=[Depends(require_json_body)],
)
async def import_sessions(
    imports: ImportsDep,
    caller: CallerDep,
    body: Annotated[Any, Body(openapi_examples=IMPORT_EXAMPLES)],
) -> ImportReport:
    """Bring conversations in as new sessions of the caller, trees included: this
    service's export (one `{session, messages}` or a list), or ChatGPT's data export
    (`conversations.json` as it is), or `{"conversations": [...]}` of either.

    Each conversation goes in whole or not at all. One that cannot (malformed, over a
    limit) is reported `invalid` with the reason, naming it, and the others go in; a
    file none of which can go in is 422 `invalid_import`. A conversation imported
    before and unchanged is reported `duplicate` with its session: importing the same
    file twice makes no copies. Files up to MAX_IMPORT_BYTES.
    """
    return await imports.run(body, caller)


@router.get("", response_model=SessionPage, responses=LIST_ERRORS)
async def list_sessions(
    request: Request,
    sessions: SessionsDep,
    caller: CallerDep,
    limit: Annotated[int, Query(ge=1, le=100, description="Page size")] = 20,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
    q: Annotated[
        str | None,
        Query(
            description="Full-text search over titles and message text: sessions holding"
            " every word (each as a word or its start, any case)",
            examples=["busan ferry"],
        ),
    ] = None,
    profile_id: Annotated[str | None, Query(description="Only this chat profile's")] = None,
    pinned: Annotated[bool | None, Query(description="Only pinned (true) or unpinned")] = None,
    archived: Annotated[
        bool, Query(description="true: the archived sessions instead of the others")
    ] = False,
    sort: Annotated[SortKey, Query(description="The order's key")] = "last_accessed",
    order: Annotated[Literal["asc", "desc"], Query(description="Its direction")] = "desc",
) -> SessionPage:
    """List the caller's live sessions (an admin key's: everyone's), most recently
    accessed first unless `sort`/`order` say otherwise, keyset-paginated (a cursor
    belongs to the sort it came from).

    `metadata.<key>=<value>` (repeatable, up to 8 keys) keeps the sessions whose
    metadata has that value at that key: `?metadata.user_id=example`. Archived
    sessions are left out unless `archived=true`, which lists only them.
    """
    query = SessionQuery(
        limit, cursor, q, metadata_filters(request), profile_id, pinned, archived, sort, order
    )
    return await sessions.list_page(query, caller)


@router.get("/{session_id}", response_model=SessionPublic, responses=SESSION_NOT_FOUND)
async def get_session(session_id: str, sessions: SessionsDep, caller: CallerDep) -> SessionPublic:
    """Read one session (counts as access: it postpones expiry)."""
    return await sessions.get(session_id, caller)


@router.patch(
    "/{session_id}",
    response_model=SessionPublic,
    responses={**SESSION_NOT_FOUND, **UPDATE_UNPROCESSABLE, **BODY_ERRORS},
    dependencies=[Depends(require_json_body)],
)
async def update_session(
    session_id: str, body: SessionUpdate, sessions: SessionsDep, caller: CallerDep
) -> SessionPublic:
    """Replace the metadata, the system prompt, the chat profile, the title, `pinned`
    and/or `archived`; fields left out are kept, `profile_id: null` takes the profile
    away and `title: null` the title. A turn takes each setting from its request,
    else the session, else its profile, else the service's."""
    return await sessions.update(session_id, caller, body)


@router.delete("/{session_id}", status_code=status.HTTP_204_NO_CONTENT, responses=SESSION_NOT_FOUND)
async def delete_session(session_id: str, sessions: SessionsDep, caller: CallerDep) -> Response:
    """Delete a session and all its messages (recorded in the audit trail)."""
    await sessions.delete(session_id, caller)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/{session_id}/messages",
    response_model=MessagePage,
    responses={**SESSION_NOT_FOUND, **PATH_UNPROCESSABLE},
)
async def list_messages(
    session_id: str,
    history: HistoryDep,
    caller: CallerDep,
    limit: Annotated[int, Query(ge=1, le=500, description="How many messages")] = 50,
    before: Annotated[
        str | None, Query(description="message_id of the path: return only older messages")
    ] = None,
    leaf: Annotated[
        str | None,
        Query(description="message_id: the path ending at this message, not the active one"),
    ] = None,
) -> MessagePage:
    """The active path's newest messages (before `before`), in chronological order:
    the conversation from its first message down to the session's `active_leaf_id`,
    or down to `leaf`, another version's path, without making it the active one."""
    return await history.page(session_id, caller, limit, before, leaf)


@router.get(
    "/{session_id}/tree", response_model=TreePage, responses={**SESSION_NOT_FOUND, **BAD_CURSOR}
)
async def session_tree(
    session_id: str,
    history: HistoryDep,
    caller: CallerDep,
    limit: Annotated[int, Query(ge=1, le=1000, description="How many nodes")] = 200,
    after: Annotated[
        str | None, Query(description="message_id: return only messages created after it")
    ] = None,
) -> TreePage:
    """Every message of the session, every branch, as nodes `{message_id, parent_id,
    role, status, created_at, preview}` in creation order: enough to draw the whole
    tree. Keyset-paged: pass `next_cursor` as `after`."""
    return await history.tree(session_id, caller, limit, after)


@router.get(
    "/{session_id}/summaries",
    response_model=SummaryPage,
    responses={**SESSION_NOT_FOUND, **BAD_CURSOR},
)
async def list_summaries(
    session_id: str,
    summaries: SummariesDep,
    caller: CallerDep,
    limit: Annotated[int, Query(ge=1, le=100, description="How many summaries")] = 20,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page")] = None,
) -> SummaryPage:
    """The session's running summaries (summary memory), newest first: each covers the
    path from the first message down to `covers_through_message_id`, and serves every
    branch through that message. Older ones stay; none is ever edited."""
    return await summaries.list_page(session_id, caller, limit, cursor)


@router.post(
    "/{session_id}/fork",
    status_code=status.HTTP_201_CREATED,
    response_model=SessionPublic,
    responses={**SESSION_NOT_FOUND, **TURN_IN_PROGRESS, **FORK_UNPROCESSABLE, **BODY_ERRORS},
    dependencies=[Depends(require_json_body)],
)
async def fork_session(
    session_id: str,
    body: ForkRequest,
    forks: ForksDep,
    caller: CallerDep,
    response: Response,
    key: IdempotencyKey = None,
) -> SessionPublic:
    """A new session, the caller's, whose history is a copy (new ids) of this
    session's path from its first message down to `message_id`, any version: with
    the source's system prompt and metadata, and `forked_from` naming the source and
    the message. The two are independent from then on.

    409 when `message_id` is a reply still being generated. Sent again with the same
    `Idempotency-Key`, it answers the fork it created (`Idempotent-Replayed: true`).
    """
    result = await forks.fork(session_id, body, key, caller)
    mark_replayed(response, result.replayed)
    return result.value


@router.get("/{session_id}/export", response_model=SessionExport, responses=SESSION_NOT_FOUND)
async def export_session(session_id: str, history: HistoryDep, caller: CallerDep) -> SessionExport:
    """The whole conversation in one document: the session and every message, oldest
    first (recorded in the audit trail as `session.export`)."""
    return await history.export(session_id, caller)


@router.get("/{session_id}/status", response_model=TurnStatus, responses=SESSION_NOT_FOUND)
async def turn_status(session_id: str, reader: TurnStatusDep, caller: CallerDep) -> TurnStatus:
    """Is the session generating a reply, and how much of it is stored so far?

    Read from the database, so any worker answers alike; polling it does not count
    as access to the session.
    """
    return await reader.status(session_id, caller)


@router.post("/{session_id}/stop", response_model=StopResult, responses=SESSION_NOT_FOUND)
async def stop_turn(session_id: str, runner: RunnerDep, caller: CallerDep) -> StopResult:
    """Stop the reply the session is generating, whichever worker generates it.

    The upstream stream is closed at once (the LLM server stops decoding), the reply
    is stored `cancelled` with its text so far, and a client reading its stream gets
    a last `done` event with `finish_reason: cancelled`. Answers once the reply has
    ended (normally within a few hundred ms). No reply being generated: 200 with
    `stopped: false`.
    """
    return await runner.stop_session(session_id, caller)
