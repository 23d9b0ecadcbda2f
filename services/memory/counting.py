"""Token counts from the model that will read them.

The window is sized in the serving model's own tokens where its server can count
them: llama.cpp's server and vLLM/SGLang (`POST /tokenize`), llama-cpp-python, the
default local model (`POST /extras/tokenize/count`). The first turn discovers which
one the (first) LLM server has and the answer is kept for the process; `auto` falls
back to the estimate (services/memory/window.py) for servers with none, `server`
refuses turns instead, `estimate` never asks.

Counts are of message contents. What the chat template adds around them (role
headers, end markers, the assistant header, a default system prompt some templates
insert when none is given) is measured once, at discovery, from the server's own
`usage.prompt_tokens` on four tiny prompts (max_tokens 1), not guessed. A reply's
framing may differ from a user message's (SmolLM2's: 6 and 5), so each is measured:

    A = [user a]      D = [user a, assistant b]      B = [user a, assistant b, user c]
    C = [system s, user a]
    assistant       = D - A - b             user = B - D - c
    without system  = A - a - user          with system = C - s - a - 2 x user

(a system message is framed as a user message; what its framing differs by is in
"with system").

Each message is counted once, when it is stored, and the count kept with it under
the counter's key (`server:<model>` or `estimate`), so a turn asks the server only
about its new user message.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from services.errors import ServiceError
from services.memory.errors import TokenCounterUnavailable
from services.memory.window import MESSAGE_OVERHEAD_TOKENS, PROMPT_OVERHEAD_TOKENS, estimate_tokens
from services.upstream_timeout import answer_within

log = logging.getLogger(__name__)

ESTIMATE_KEY = "estimate"
PROBE = "Hello"
CALIBRATION_TEXTS = {"a": "Hello there", "b": "General Kenobi", "c": "You are bold", "s": "Be kind"}


@dataclass(frozen=True, slots=True)
class Framing:
    """What the chat template adds, in tokens: to each message (a reply's and the
    others'), and once per prompt (with and without a system message)."""

    user: int = MESSAGE_OVERHEAD_TOKENS
    assistant: int = MESSAGE_OVERHEAD_TOKENS
    with_system: int = PROMPT_OVERHEAD_TOKENS
    without_system: int = PROMPT_OVERHEAD_TOKENS
    measured: bool = False

    def message(self, role: str) -> int:
        return self.assistant if role == "assistant" else self.user

    def once(self, has_system: bool) -> int:
        return self.with_system if has_system else self.without_system


@dataclass(frozen=True, slots=True)
class Count:
    tokens: int
    key: str  # what the count is valid for: "server:<model>" or "estimate"


@dataclass(frozen=True, slots=True)
class Counter:
    """A discovered way of counting, and the template's framing for it."""

    kind: Literal["server", "estimate"]
    key: str
    model: str | None
    framing: Framing
    path: str | None = None  # the server's tokenize route

    def counts(self, count: Count | None) -> bool:
        """Whether a stored count was made by this counter."""
        return count is not None and count.key == self.key


ESTIMATE = Counter("estimate", ESTIMATE_KEY, None, Framing())


class _Unreachable(Exception):
    """The server did not answer discovery: ask again later."""


def _not_a_verdict(exc: httpx.HTTPError) -> bool:
    """A failure that says nothing of the server's routes: it is down, slow, or
    failing (5xx, 429), as opposed to answering that a route is not there."""
    if isinstance(exc, httpx.HTTPStatusError):
        status = exc.response.status_code
        return status >= 500 or status == 429
    return isinstance(exc, httpx.TransportError)


class TokenCounter:
    """The service's counter: discovered on first use, then kept for the process."""

    def __init__(
        self,
        mode: Literal["auto", "server", "estimate"],
        http: httpx.AsyncClient,
        server_url: str,
        resolve_model: Callable[[], Awaitable[str]] | None,
        headers: dict[str, str],
        timeout: float,
        patient_timeout: float | None = None,
    ) -> None:
        self.mode, self.http, self.base = mode, http, server_url.rstrip("/")
        self.resolve_model, self.headers, self.timeout = resolve_model, headers, timeout
        # A turn's count waits as long as its reply would: a one-slot server (the local
        # model) answers it only after the request it is busy with (another turn, a
        # summary). What must not wait (setting a system prompt) uses `timeout`.
        self.patient_timeout = patient_timeout or timeout
        self._found: Counter | None = ESTIMATE if mode == "estimate" else None
        self._lock = asyncio.Lock()

    @property
    def known(self) -> Counter | None:
        """The counter in use, if discovered yet (asking nothing)."""
        return self._found

    async def counter(self) -> Counter:
        """The counter in use; the first call discovers it (one at a time). A server
        that could not be reached is asked again at the next call; meanwhile turns
        are counted by estimate (TOKEN_COUNTER=server: refused)."""
        if self._found is not None:
            return self._found
        async with self._lock:
            if self._found is not None:
                return self._found
            try:
                found = await self._discover()
            except _Unreachable:
                found = None
            else:
                if found is not None or self.mode == "auto":  # `server` keeps asking
                    self._found = found or ESTIMATE
                    log.info("token counter: %s (%s)", self._found.key, self._found.framing)
            if found is None and self.mode == "server":
                raise TokenCounterUnavailable(self.base)
        return self._found or ESTIMATE

    async def count_if_possible(self, text: str | None) -> Count | None:
        """`text`'s count, or None (estimated when a window needs it) when there is no
        text or the server cannot count now: for what must never wait on the LLM
        server, like setting a system prompt."""
        if text is None:
            return None
        try:
            return await self.count(text, patient=False)
        except ServiceError:
            return None

    async def count(self, text: str, patient: bool = True) -> Count:
        """`text`'s tokens by the counter in use; the estimate when the server fails
        to answer (with TOKEN_COUNTER=server, that is an error)."""
        counter = await self.counter()
        if counter.path is None:
            return Count(estimate_tokens(text), ESTIMATE_KEY)
        try:
            wait = self.patient_timeout if patient else self.timeout
            tokens = await self._tokens(counter.path, text, counter.model or "", wait)
            return Count(tokens, counter.key)
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            if self.mode == "server":
                raise TokenCounterUnavailable(self.base) from exc
            log.warning("counting at %s failed (%s); estimated instead", self.base, exc)
            return Count(estimate_tokens(text), ESTIMATE_KEY)

    async def _discover(self) -> Counter | None:
        """The server's tokenize route, measured; None when it has none. _Unreachable
        when the server did not answer (or failed): nothing is concluded then."""
        model = await self._model()
        for path in ("/tokenize", "/extras/tokenize/count"):
            try:
                await self._tokens(path, PROBE, model, self.patient_timeout)
            except httpx.HTTPError as exc:
                if _not_a_verdict(exc):
                    raise _Unreachable() from exc
                continue  # the server answered: no such route
            except (ValueError, KeyError, TypeError):
                continue
            framing = await self._calibrate(path, model)
            return Counter("server", f"server:{model}", model, framing, path)
        log.info("%s has no tokenize route: counting by estimate", self.base)
        return None

    async def _model(self) -> str:
        if self.resolve_model is None:
            return ""
        try:
            return await self.resolve_model()
        except Exception:  # no model list: counts are keyed by the server alone
            return ""

    async def _tokens(self, path: str, text: str, model: str, seconds: float) -> int:
        """One count from one route; both /tokenize dialects take this body."""
        body: dict[str, Any] = {"content": text, "prompt": text, "input": text}
        body |= {"add_special": False, "add_special_tokens": False}
        if model:
            body["model"] = model
        wait = answer_within(self.http, seconds)
        response = await self.http.post(
            self.base + path, json=body, headers=self.headers, timeout=wait
        )
        response.raise_for_status()
        answer = response.json()
        return int(answer["count"]) if "count" in answer else len(answer["tokens"])

    async def _calibrate(self, path: str, model: str) -> Framing:
        """The template's framing from the server's usage on four tiny prompts; the
        estimate's constants when the server reports no usage."""
        texts = CALIBRATION_TEXTS
        user_a, reply_b = ("user", texts["a"]), ("assistant", texts["b"])
        try:
            n = {
                k: await self._tokens(path, t, model, self.patient_timeout)
                for k, t in texts.items()
            }
            a = await self._prompt_tokens(model, [user_a])
            d = await self._prompt_tokens(model, [user_a, reply_b])
            b = await self._prompt_tokens(model, [user_a, reply_b, ("user", texts["c"])])
            c = await self._prompt_tokens(model, [("system", texts["s"]), user_a])
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            if isinstance(exc, httpx.HTTPError) and _not_a_verdict(exc):
                raise _Unreachable() from exc
            log.warning("could not measure the chat template at %s (%s)", self.base, exc)
            return Framing()
        user = b - d - n["c"]
        return Framing(
            user=user,
            assistant=d - a - n["b"],
            with_system=c - n["s"] - n["a"] - 2 * user,
            without_system=a - n["a"] - user,
            measured=True,
        )

    async def _prompt_tokens(self, model: str, messages: list[tuple[str, str]]) -> int:
        body: dict[str, Any] = {
            "messages": [{"role": role, "content": text} for role, text in messages],
            "max_tokens": 1,
            "temperature": 0,
            "stream": False,
        }
        if model:
            body["model"] = model
        response = await self.http.post(
            self.base + "/v1/chat/completions",
            json=body,
            headers=self.headers,
            timeout=answer_within(self.http, max(self.patient_timeout, 30.0)),
        )
        response.raise_for_status()
        return int(response.json()["usage"]["prompt_tokens"])


def system_count_values(count: Count | None) -> dict[str, Any]:
    """The columns that keep a system prompt's count (of a session or a profile)."""
    return {
        "system_prompt_tokens": count.tokens if count else None,
        "system_prompt_counter": count.key if count else None,
    }
