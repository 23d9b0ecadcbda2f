"""Summary memory's writer: running summaries of what falls out of a session's window.

After a turn of a `summary` session has ended and is stored, the messages of its path
that were left out of its window and are not covered by the path's summary yet are
weighed; past SUMMARY_TRIGGER_TOKENS, the LLM (SUMMARY_LLM_SERVER_URL, else the
turns' servers) is asked for a new running summary: the previous one plus the oldest
of those messages, as many as fit its context. It is stored as a new summary covering
through the last message it read; older ones stay (another branch may still need
them). Then, if what is left still passes the trigger, again (ROUNDS_PER_TURN at most).

All of it runs in the background, one task per session at a time in this process: a
turn that ends meanwhile is looked at when the running one is done (several workers:
a summary another has just stored through the same message is not stored twice). A reply never
waits for it, and a summary that fails is logged and left for a later turn.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, insert, select

from config import Settings
from models.summary import summaries_table
from models.types import utcnow
from services.background import LatestPerSession
from services.errors import ServiceError
from services.llm import LLMRequest
from services.llm.base import Streams
from services.memory.counting import ESTIMATE_KEY, Count, Counter, TokenCounter
from services.memory.plan import message_cost
from services.memory.recall import PathSince, read_path_since_summary
from services.memory.summary_text import (
    SUMMARY_INSTRUCTION,
    summary_part,
    summary_request_text,
)
from services.memory.window import ChatMessage, estimate_tokens
from services.storage import Database

log = logging.getLogger(__name__)
SU = summaries_table.c

ROUNDS_PER_TURN = 4
SUMMARY_TEMPERATURE = 0.2
# Tokens a "role: " prefix and the line break add to a message in the request.
LINE_TOKENS = 4


@dataclass(frozen=True, slots=True)
class Job:
    """A turn that ended: its session, its reply, and the message ids its window sent."""

    session_id: str
    reply_id: str
    sent: frozenset[str]


@dataclass(frozen=True, slots=True)
class Written:
    """A summary the LLM wrote."""

    text: str
    model: str | None
    usage: dict[str, int | bool]


class Summarizer:
    def __init__(
        self, database: Database, llm: Streams, counter: TokenCounter, settings: Settings
    ) -> None:
        self.database, self.llm, self.counter, self.settings = database, llm, counter, settings
        self.jobs: LatestPerSession[Job] = LatestPerSession(self._summarize, "summary")

    def after_turn(self, job: Job) -> None:
        """Look at the session's left-out history soon, in the background."""
        self.jobs.submit(job.session_id, job)

    async def _summarize(self, job: Job) -> None:
        for _ in range(ROUNDS_PER_TURN):
            counter = await self.counter.counter()
            async with self.database.read() as db:
                since = await db.run_sync(read_path_since_summary, job.reply_id)
            left_out = _left_out(since.messages, job.sent)
            weight = sum(message_cost(counter, message) for message in left_out)
            if weight <= self.settings.summary_trigger_tokens:
                return
            chunk = self._chunk(counter, since.summary_text, left_out[::-1])
            written = await self._write(since.summary_text, chunk)
            count = await self._count(summary_part(written.text))
            await self.database.write(_store, job.session_id, since, chunk, written, count)
            log.info("session %s: summary through %d messages", job.session_id, len(chunk))

    def _chunk(
        self, counter: Counter, previous: str | None, oldest_first: Sequence[ChatMessage]
    ) -> list[ChatMessage]:
        """The oldest left-out messages that fit one summary request (at least one,
        its text cut to fit when it alone does not)."""
        settings = self.settings
        room = (
            settings.llm_context_tokens
            - settings.summary_max_tokens
            - counter.framing.once(True)
            - 2 * counter.framing.message("user")
            - estimate_tokens(SUMMARY_INSTRUCTION + (previous or ""))
            - 16  # the request's headings
        )
        chunk: list[ChatMessage] = []
        for message in oldest_first:
            cost = message_cost(counter, message) + LINE_TOKENS
            if cost > room:
                break
            room -= cost
            chunk.append(message)
        if not chunk:
            chunk.append(_cut(oldest_first[0], max(room - LINE_TOKENS, 1)))
        return chunk

    async def _write(self, previous: str | None, chunk: Sequence[ChatMessage]) -> Written:
        settings = self.settings
        request = LLMRequest(
            messages=[
                {"role": "system", "content": SUMMARY_INSTRUCTION},
                {"role": "user", "content": summary_request_text(previous, chunk)},
            ],
            max_tokens=settings.summary_max_tokens,
            temperature=SUMMARY_TEMPERATURE,
            model=settings.summary_model or None,
        )
        parts: list[str] = []
        model, usage = request.model, None
        async for piece in self.llm.stream(request):
            parts.append(piece.text)
            model = piece.model or model
            usage = piece.usage or usage
        text = "".join(parts).strip()
        if not text:
            raise ValueError("the LLM wrote an empty summary")
        prompt = usage.prompt_tokens if usage else 0
        completion = usage.completion_tokens if usage else estimate_tokens(text)
        counts: dict[str, int | bool] = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "estimated": usage is None,
        }
        return Written(text, model, counts)

    async def _count(self, text: str) -> Count:
        try:
            return await self.counter.count(text)
        except ServiceError:
            return Count(estimate_tokens(text), ESTIMATE_KEY)


def _left_out(newest_first: Sequence[ChatMessage], sent: frozenset[str]) -> list[ChatMessage]:
    """The messages older than the oldest one the window sent, newest first. The
    reply itself, newer than all of them, is never left out."""
    oldest_sent = max(
        (index for index, message in enumerate(newest_first) if message.message_id in sent),
        default=0,
    )
    return list(newest_first[oldest_sent + 1 :])


def _cut(message: ChatMessage, tokens: int) -> ChatMessage:
    """The message with its text cut to about `tokens` (by the high-side estimate)."""
    low, high = 0, len(message.content)
    while low < high:
        middle = (low + high + 1) // 2
        if estimate_tokens(message.content[:middle]) <= tokens:
            low = middle
        else:
            high = middle - 1
    return ChatMessage(message.role, message.content[:low], message.message_id)


def _store(
    db: Connection,
    session_id: str,
    since: PathSince,
    chunk: Sequence[ChatMessage],
    written: Written,
    count: Count,
) -> None:
    """Store the summary, unless another worker has just stored one through the same
    message (a session's turns may reach several workers; each summarizes on its own)."""
    through = chunk[-1].message_id
    taken = select(SU.summary_id).where(SU.covers_through_message_id == through).limit(1)
    if db.execute(taken).first() is not None:
        return
    db.execute(
        insert(summaries_table).values(
            summary_id=str(uuid.uuid4()),
            session_id=session_id,
            covers_through_message_id=through,
            covered_messages=since.covered_messages + len(chunk),
            text=written.text,
            model=written.model,
            token_usage=written.usage,
            created_at=utcnow(),
            token_count=count.tokens,
            token_counter=count.key,
            previous_summary_id=since.summary.message_id if since.summary else None,
        )
    )
