"""Preparing a turn: count the new message, store the turn's messages where they go
in the tree, fit the window, and form the request to the LLM.

The count is the one upstream call a turn makes besides the reply itself (none with
the estimate, none for a regenerate whose user message was counted by the same
counter). The window is fitted inside the turn's first transaction, from the
history it reads there, so its plan is stored with the reply's placeholder.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

from config import Settings
from models.auth import Caller
from models.chat import ChatRequest, Regeneration, TurnOptions
from models.message import MessageStatus, Role, TokenUsage
from models.types import utcnow
from services.drain import Drain
from services.errors import (
    ContextLengthExceeded,
    ContextTooLong,
    MessageNotFound,
    MessageTooLong,
)
from services.idempotency import IdempotencyClaim
from services.llm import LLMRequest
from services.llm.tool_calls import ToolCallAssembler
from services.memory.counting import ESTIMATE, Count, Counter, TokenCounter
from services.memory.plan import Budget, Fitted, Recall, fit_window, message_cost
from services.memory.window import ChatMessage, wire_messages
from services.turns.config import TurnConfig, resolve
from services.turns.placement import Placement, reply_target
from services.turns.store import TurnAsk, TurnOutcome, TurnStart, TurnStore


@dataclass(slots=True)
class PreparedTurn:
    """A turn whose user message is stored, ready to call the LLM."""

    start: TurnStart
    request: LLMRequest
    counter: Counter
    parts: list[str] = field(default_factory=list)
    llm_server: str | None = None  # the server asked last (several: LLM_SERVER_URL)
    model: str | None = None  # the model that answered, as the server named it
    calls: ToolCallAssembler = field(default_factory=ToolCallAssembler)
    tool_calls: list[dict[str, Any]] | None = None  # the calls, once the reply is whole
    began: float = field(default_factory=time.perf_counter)  # for the metrics' timings
    first_text_at: float | None = None

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def has_output(self) -> bool:
        """Whether anything of the reply has reached a client (no retry after that)."""
        return bool(self.parts) or bool(self.calls)

    @property
    def countable_parts(self) -> list[str]:
        """What the reply's tokens are counted on: its text, and its calls."""
        if not self.tool_calls:
            return self.parts
        return [*self.parts, json.dumps(self.tool_calls, ensure_ascii=False)]

    def outcome(
        self,
        status: MessageStatus,
        finish_reason: str | None,
        usage: TokenUsage | None,
        error: str | None = None,
        count: Count | None = None,
    ) -> TurnOutcome:
        """How the turn ended, with the text and delta lengths generated so far."""
        lengths = [len(part) for part in self.parts]
        return TurnOutcome(
            self.text,
            status,
            finish_reason,
            usage,
            error,
            lengths,
            self.llm_server,
            count,
            self.model or self.request.model,
            self.tool_calls if status == MessageStatus.COMPLETE else None,
        )


class TurnPreparer:
    def __init__(
        self, store: TurnStore, counter: TokenCounter, settings: Settings, drain: Drain
    ) -> None:
        self.store, self.counter, self.settings, self.drain = store, counter, settings, drain
        self._default_count: Count | None = None

    async def prepare(
        self,
        ask: ChatRequest | Regeneration,
        caller: Caller,
        claim: IdempotencyClaim | None = None,
    ) -> PreparedTurn:
        """Count, store, fit. A chat stores its user message where its parent_id or
        edit_of puts it (by default at the end of the active path); a regenerate only
        a new reply to the user message it names. Raises Repeated when `claim`'s key
        already began this turn (nothing is stored), ShuttingDown while draining,
        ContextTooLong (nothing is stored) when the message cannot fit."""
        self.drain.refuse_new_work()
        counter = await self.counter.counter()
        session_id, new, placement, count = await self._what(ask, caller, counter)
        count = count or await self.counter.count(new.countable)
        user = replace(new, tokens=count.tokens, counted_by=count.key)
        default = await self._default_system_prompt()
        configure = partial(resolve, ask, self.settings, default_system=default)
        fit = partial(self._fit, counter, user)
        echo = ask.echo if isinstance(ask, ChatRequest) else None
        turn_ask = TurnAsk(session_id, user, configure, fit, placement, echo)
        start = await self.store.begin(turn_ask, caller, claim)
        request = _llm_request(ask, start.config, wire_messages(start.window))
        return PreparedTurn(start, request, counter_for(counter, start.config.model))

    async def _what(
        self, ask: ChatRequest | Regeneration, caller: Caller, counter: Counter
    ) -> tuple[str | None, ChatMessage, Placement, Count | None]:
        """The session, the new message (a user message or tool results), where the
        turn goes, and the message's count when it is stored already (a regenerate's)."""
        if isinstance(ask, ChatRequest):
            new = new_message(ask)
            if len(new.countable) > self.settings.max_message_chars:
                raise MessageTooLong(len(new.countable), self.settings.max_message_chars)
            placement = Placement(parent_id=ask.parent_id, edit_of=ask.edit_of)
            return ask.session_id, new, placement, None
        visible = self.store.sessions.visible(caller, utcnow())
        target = await reply_target(self.store.database, ask.message_id, visible)
        if ask.session_id not in (None, target.session_id):
            raise MessageNotFound(ask.message_id)
        count = target.count if counter.counts(target.count) else None
        placement = Placement(reply_to=target.user_message_id)
        return target.session_id, target.message, placement, count

    def _budget(self, counter: Counter, message: ChatMessage, config: TurnConfig) -> Budget:
        """What the window must fit; refuses a message that cannot fit the model's
        context beside the reply's room (in the first transaction: nothing is stored)."""
        context, reply_tokens = self.settings.llm_context_tokens, config.max_tokens
        framing = max(counter.framing.once(True), counter.framing.once(False))
        room = context - reply_tokens - framing
        needed = message_cost(counter, message)
        if needed > room:
            raise ContextTooLong(
                f"the message needs about {needed} tokens but the model's context "
                f"(LLM_CONTEXT_TOKENS={context}) leaves {max(room, 0)} beside the "
                f"{reply_tokens} kept for the reply: shorten it or lower max_new_tokens"
            )
        return Budget(context, reply_tokens, config.max_context_tokens)

    async def _default_system_prompt(self) -> ChatMessage | None:
        """DEFAULT_SYSTEM_PROMPT with its count (counted once per process)."""
        text = self.settings.default_system_prompt
        if not text:
            return None
        if (
            self._default_count is None
            or self._default_count.key != (await self.counter.counter()).key
        ):
            self._default_count = await self.counter.count(text)
        return ChatMessage(
            "system", text, None, self._default_count.tokens, self._default_count.key
        )

    def _fit(
        self,
        counter: Counter,
        user: ChatMessage,
        config: TurnConfig,
        history: list[ChatMessage],
        user_id: str,
        recall: Recall | None,
    ) -> Fitted:
        """The window, fitted in the turn's first transaction (services/memory/plan.py)."""
        counter = counter_for(counter, config.model)
        budget = self._budget(counter, user, config)
        stored = replace(user, message_id=user_id)
        fitted = fit_window(counter, budget, config.system, history, stored, recall)
        if not config.truncate:
            refuse_truncation(fitted, config, len(history), recall)
        return fitted


def refuse_truncation(
    fitted: Fitted, config: TurnConfig, candidates: int, recall: Recall | None
) -> None:
    """`truncation: disabled`: ContextLengthExceeded (in the turn's first transaction:
    nothing is stored) when the window leaves out history, by the message cap, the
    token budget or a summary it has no room for."""
    left_out = fitted.plan.left_out[0] + max(candidates - (config.max_messages - 1), 0)
    summary_dropped = recall is not None and recall.summary is not None
    summary_dropped = summary_dropped and fitted.plan.summary_id is None
    if left_out or summary_dropped:
        what = "older messages" if left_out else "the conversation's summary"
        raise ContextLengthExceeded(
            f"the conversation does not fit the model's context with truncation disabled:"
            f" {what} would be left out (budget {fitted.plan.budget_tokens} tokens, at most"
            f" {config.max_messages} messages); send truncation: auto to let the window"
            " leave the oldest out"
        )


def counter_for(counter: Counter, model: str | None) -> Counter:
    """The counter for a turn's model: the server's tokenizer counts for the model it
    was discovered for; a turn that names another model (a profile's, a request's)
    is sized by the estimate, which errs high."""
    if model is None or counter.model in (None, model):
        return counter
    return ESTIMATE


def new_message(ask: ChatRequest) -> ChatMessage:
    """A chat's new message: the user's, or the `tool` message of its results."""
    if ask.tool_results is not None:
        results = [result.model_dump() for result in ask.tool_results]
        return ChatMessage(Role.TOOL, "", tool_results=results)
    return ChatMessage(Role.USER, ask.message or "")


def _llm_request(
    options: TurnOptions, config: TurnConfig, messages: list[dict[str, Any]]
) -> LLMRequest:
    do_sample = options.do_sample if options.do_sample is not None else True
    tools, tool_choice = options.tools_wire()
    return LLMRequest(
        messages=messages,
        max_tokens=config.max_tokens,
        temperature=config.temperature,
        top_p=config.top_p,
        do_sample=do_sample,
        stop=options.stop,
        model=config.model,
        tools=tools,
        tool_choice=tool_choice,
    )
