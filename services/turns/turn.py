"""A chat turn: prepare (store, window), then generate (stream, checkpoint, store).

Persistence order: (1) the user message and the assistant's `streaming` placeholder
are committed (TurnStore.begin); (2) the LLM is called with no transaction open, a
stream's text checkpointed on the way (Checkpointer); (3) the placeholder is moved
to its final state. Every way a turn can end leaves a defined stored state:

    good reply              -> assistant `complete`
    LLM error               -> assistant `failed` (partial text kept), a final `error`
    stopped (any worker)    -> assistant `cancelled` with the text so far, `done`
    service shutting down   -> `interrupted` with the text so far, `error`
    process died            -> `interrupted` at the next startup, checkpointed text kept

A client leaving does not end the turn: generation runs in its own task
(TurnRunner) and is stored whole; `on_disconnect: cancel` asks for a stop instead.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from dataclasses import replace

import anyio

from config import Settings
from models.chat import ChatResponse
from models.message import MessagePublic, MessageStatus
from services.drain import Drain
from services.errors import (
    ReplyNotStored,
    ServiceError,
    SessionNotFound,
    TurnInterrupted,
)
from services.llm import LLMPool, LLMRequest, StreamChunk, Usage
from services.llm.errors import LLMEmptyReply
from services.llm.retry import RetryPolicy, stream_with_retries
from services.memory.counting import ESTIMATE_KEY, Count, TokenCounter
from services.memory.summarizer import Job, Summarizer
from services.memory.tool_pairs import halve_history
from services.memory.window import ChatMessage, estimate_tokens, wire_messages
from services.metrics import Metrics
from services.search.titles import TitleJob, Titler
from services.turns.checkpoint import Checkpointer, CheckpointQueue
from services.turns.ends import TurnEnds
from services.turns.events import (
    done_payload,
    error_payload,
    start_payload,
    tool_call_payload,
)
from services.turns.live import LiveTurn
from services.turns.prepare import PreparedTurn, TurnPreparer
from services.turns.store import TurnOutcome, TurnStart, TurnStore
from services.turns.usage import reply_count, turn_usage

log = logging.getLogger(__name__)

CANCELLED = "cancelled"
REPLY_CUT = "length"  # finish_reason of a reply cut at MAX_REPLY_CHARS
INTERRUPTED = (MessageStatus.INTERRUPTED, "interrupted", None, TurnInterrupted.code)


class TurnService:
    def __init__(
        self,
        store: TurnStore,
        llm: LLMPool,
        settings: Settings,
        drain: Drain,
        counter: TokenCounter,
        summarizer: Summarizer | None = None,
        titler: Titler | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.store = store
        self.llm = llm
        self.settings = settings
        self.drain = drain
        self.checkpoints = CheckpointQueue(store)
        self.metrics = metrics or Metrics()
        self.ends = TurnEnds(store, self.metrics)
        self.counter = counter
        self.summarizer = summarizer
        self.titler = titler
        # Count, store, fit (services/turns/prepare.py): the turn, ready to generate.
        self.prepare = TurnPreparer(store, counter, settings, drain).prepare

    async def generate(self, turn: PreparedTurn, live: LiveTurn) -> None:
        """_generate, counted among the replies generating and timed (metrics)."""
        metrics = self.metrics
        metrics.generating.inc()
        try:
            await self._generate(turn, live)
        finally:
            metrics.generating.dec()
            ended = time.perf_counter()
            metrics.turn_seconds.observe(ended - turn.began)
            if turn.first_text_at is not None:
                metrics.first_token.observe(turn.first_text_at - turn.began)

    async def _generate(self, turn: PreparedTurn, live: LiveTurn) -> None:
        """Stream the reply into `live` (start, delta..., done or error) and store it.

        Runs in its own task (TurnRunner). A stop cancels only the scope around the
        upstream stream, which closes that connection at once; what was generated
        is then stored `cancelled` and the followers get `done`.
        """
        start = turn.start
        live.emit(
            "start",
            start_payload(start.session_id, start.user_message_id, start.assistant_message_id),
        )
        finish_reason: str | None = None
        usage: Usage | None = None
        settings = self.settings
        checkpoint = Checkpointer(
            self.checkpoints,
            start.assistant_message_id,
            turn.parts,
            settings.checkpoint_seconds,
            settings.checkpoint_chunks,
        )
        try:
            with anyio.CancelScope() as upstream:
                live.guard_upstream(upstream)
                finish_reason, usage = await self._relay(turn, live, checkpoint)
            if turn.calls and not upstream.cancelled_caught and finish_reason != REPLY_CUT:
                _emit_tool_calls(turn, live)
            outcome = await self._ending(turn, upstream.cancelled_caught, finish_reason, usage)
            await checkpoint.settle()
            stored = await self._store(turn, outcome)
        except Exception as exc:
            await checkpoint.settle()
            if not isinstance(exc, ReplyNotStored):  # else its end is kept, to store later
                await self._store_failure(turn, exc)
            live.failure = exc
            live.emit("error", error_payload(exc))
            return
        except BaseException:  # the process is shutting down under this turn
            await checkpoint.settle()
            await self._store_quietly(turn, turn.outcome(*INTERRUPTED))
            live.failure = TurnInterrupted()
            live.emit("error", error_payload(live.failure))
            raise
        live.result = stored
        self._after(start)
        self._title(start, stored.content)
        counts = stored.token_usage.model_dump() if stored.token_usage else None
        prompt = start.plan.prompt_tokens
        live.emit("done", done_payload(stored.message_id, stored.finish_reason, counts, prompt))

    def _after(self, start: TurnStart) -> None:
        """Summary memory: when what this turn's window left out, not yet summarized
        (its plan's left_out, counted in the turn's first transaction), passes the
        trigger, the summarizer looks at it in the background. Below it, nothing
        more is read."""
        if self.summarizer is None or start.config.memory_type != "summary":
            return
        if start.plan.left_out[1] <= self.settings.summary_trigger_tokens:
            return
        sent = frozenset(part[1] for part in start.plan.parts if part[0] == "message" and part[1])
        self.summarizer.after_turn(Job(start.session_id, start.assistant_message_id, sent))

    def _title(self, start: TurnStart, reply: str) -> None:
        """An untitled session with a reply gets a title written in the background."""
        if self.titler is None or start.titled or not reply:
            return
        user = next((m.content for m in reversed(start.window) if m.role == "user"), "")
        self.titler.after_turn(TitleJob(start.session_id, user, reply))

    async def _relay(
        self, turn: PreparedTurn, live: LiveTurn, checkpoint: Checkpointer
    ) -> tuple[str | None, Usage | None]:
        """Pass the upstream text on to `live`, keeping it in `turn` (checkpointed);
        cut at MAX_REPLY_CHARS. The finish_reason and usage the server gave."""
        finish_reason: str | None = None
        usage: Usage | None = None
        room = self.settings.max_reply_chars
        async with aclosing(self._reply_chunks(turn)) as chunks:
            async for chunk in chunks:
                turn.llm_server = chunk.server or turn.llm_server
                turn.model = chunk.model or turn.model
                if chunk.tool_calls:
                    turn.calls.add(chunk.tool_calls)
                if text := chunk.text[:room]:
                    if not turn.parts:
                        turn.first_text_at = time.perf_counter()
                    room -= len(text)
                    turn.parts.append(text)
                    live.emit("delta", {"content": text})
                    checkpoint.after_chunk()
                finish_reason = finish_reason or chunk.finish_reason
                usage = chunk.usage or usage
                if room == 0:  # MAX_REPLY_CHARS reached: cut; closing stops the server
                    return REPLY_CUT, usage
        return finish_reason, usage

    def _reply_chunks(self, turn: PreparedTurn) -> AsyncGenerator[StreamChunk, None]:
        """The upstream stream, retried while the client has no text (services/llm/retry.py)."""
        settings = self.settings
        policy = RetryPolicy(
            settings.llm_max_retries,
            settings.llm_retry_backoff_seconds,
            settings.llm_retry_deadline_seconds,
        )
        shorter = _with_half_history(turn.start.window, turn.start.config.truncate)
        return stream_with_retries(self.llm, turn.request, policy, turn.has_output, shorter)

    async def _ending(
        self, turn: PreparedTurn, stopped: bool, finish_reason: str | None, usage: Usage | None
    ) -> TurnOutcome:
        """How a reply that was not failed ended: stopped (`cancelled`) or complete,
        with its token usage and its own count (for the windows of later turns)."""
        if not turn.has_output() and not stopped:
            raise LLMEmptyReply()
        counted = turn_usage(turn.start.plan.prompt_tokens, turn.countable_parts, usage)
        countable = turn.countable_parts
        count = reply_count(turn.counter, countable, usage) or await self._count("".join(countable))
        if stopped:
            return turn.outcome(MessageStatus.CANCELLED, CANCELLED, counted, None, count)
        ended = finish_reason or "stop"
        return turn.outcome(MessageStatus.COMPLETE, ended, counted, None, count)

    async def _count(self, text: str) -> Count:
        """The reply's tokens by the server's tokenizer; never fails the turn."""
        try:
            return await self.counter.count(text)
        except ServiceError:
            return Count(estimate_tokens(text), ESTIMATE_KEY)

    async def _store_failure(self, turn: PreparedTurn, exc: Exception) -> None:
        code = exc.code if isinstance(exc, ServiceError) else "internal_error"
        if not isinstance(exc, ServiceError):
            log.exception("turn %s failed unexpectedly", turn.start.assistant_message_id)
        await self._store_quietly(turn, turn.outcome(MessageStatus.FAILED, None, None, code))

    async def _store(self, turn: PreparedTurn, outcome: TurnOutcome) -> MessagePublic:
        return await self.ends.save(turn.start, outcome)

    async def _store_quietly(self, turn: PreparedTurn, outcome: TurnOutcome) -> None:
        """Like _store, for failure paths: logs instead of raising."""
        try:
            await self._store(turn, outcome)
        except ReplyNotStored:
            pass  # kept for later (services/turns/ends.py), and logged there
        except SessionNotFound:
            log.info("session %s was deleted during its turn", turn.start.session_id)
        except Exception:
            log.exception("could not store the end of turn %s", turn.start.assistant_message_id)


def _emit_tool_calls(turn: PreparedTurn, live: LiveTurn) -> None:
    """The reply's calls, whole, once its stream has ended: a `tool_call` event each,
    after the text (the ids a replay from the stored reply gives them too)."""
    turn.tool_calls = turn.calls.calls()
    for index, call in enumerate(turn.tool_calls):
        live.emit("tool_call", tool_call_payload(call, index))


def _with_half_history(
    window: list[ChatMessage], truncate: bool
) -> Callable[[LLMRequest], LLMRequest | None]:
    """The request with the history in its window cut to half; None without history,
    or without truncation (the server's refusal then stands)."""

    def shorter(request: LLMRequest) -> LLMRequest | None:
        if not truncate:
            return None
        halved = halve_history(window)
        if len(halved) == len(window):
            return None
        return replace(request, messages=wire_messages(halved))

    return shorter


def chat_response(start: TurnStart, stored: MessagePublic) -> ChatResponse:
    return ChatResponse.of_reply(start.user_message_id, stored, start.plan.prompt_tokens)
