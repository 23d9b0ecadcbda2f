"""Where a response's input goes: a new session, or on in one.

With neither `previous_response_id` nor `conversation`, the items start a new
session (`instructions` and system or developer items as its system prompt). Going
on in a session, the items before the new part (the last user message, or the
outputs of the previous response's calls) are appended first, below the previous
response (or at the end of the conversation), and the turn goes below them: a
client that keeps its own list can send several items at once, as OpenAI allows.
Either way what was stored goes again if the turn is then refused
(services/openai/imported.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from models.auth import Caller
from models.openai import OpenAIMessage
from models.openai_responses import ResponseRequest
from services.branches import BranchService
from services.openai.errors import SessionConflict
from services.openai.imported import Imported
from services.openai.tool_messages import SYSTEM_ROLES, new_part, stored_history
from services.sessions import SessionService


@dataclass
class ResponseSessions:
    sessions: SessionService
    branches: BranchService

    async def start(
        self,
        ask: ResponseRequest,
        messages: list[OpenAIMessage],
        profile_id: str | None,
        caller: Caller,
    ) -> Imported:
        """A new session holding the items before the new part."""
        earlier = messages[: new_part(messages)]
        system = [ask.instructions or ""] + [m.text for m in earlier if m.role in SYSTEM_ROLES]
        history = stored_history(messages)[:-1]  # all checked, before anything is stored
        prompt = "\n\n".join(part for part in system if part) or None
        made = await self.sessions.create_with_history(
            caller, history, ask.metadata, prompt, profile_id
        )
        undo = partial(self.sessions.delete, made.session_id, caller)
        return Imported(made.session_id, made.active_leaf_id, undo)

    async def go_on(
        self,
        ask: ResponseRequest,
        messages: list[OpenAIMessage],
        at: tuple[str, str | None],
        profile_id: str | None,
        caller: Caller,
    ) -> tuple[str | None, Imported | None]:
        """Going on in session `at[0]` below message `at[1]` (None: its active leaf):
        the earlier items appended there, and where the turn goes then."""
        session_id, parent_id = at
        await self._check(ask, messages, session_id, profile_id, caller)
        if new_part(messages) == 0:
            return parent_id, None
        earlier = stored_history(messages)[:-1]
        ids = await self.sessions.append(session_id, caller, earlier, parent_id)
        undo = partial(self.branches.delete, ids[0], caller)
        return ids[-1], Imported(session_id, ids[-1], undo)

    async def _check(
        self,
        ask: ResponseRequest,
        messages: list[OpenAIMessage],
        session_id: str,
        profile_id: str | None,
        caller: Caller,
    ) -> None:
        """Nothing the session would have to change for: its system prompt (system
        items, other instructions), its profile."""
        if any(m.role in SYSTEM_ROLES for m in messages):
            raise SessionConflict(
                "system and developer items only start a conversation (its system prompt);"
                " change the prompt with PATCH /api/sessions/{id}"
            )
        session = await self.sessions.get(session_id, caller)
        if ask.instructions is not None and ask.instructions != session.system_prompt:
            raise SessionConflict(
                "instructions differ from the conversation's system prompt; change it with"
                " PATCH /api/sessions/{id}"
            )
        if profile_id is not None and profile_id != session.profile_id:
            raise SessionConflict(f"model {ask.model!r} is not the conversation's profile")
