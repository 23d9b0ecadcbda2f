"""What a turn runs with: each field from the request, else the session, else its chat
profile, else the service's setting.

The profile is read in the turn's first transaction, with the session (a PATCH to it
applies from the next turn in every worker); the request's fields are known before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Connection, bindparam, select

from config import Settings
from models.chat import TurnOptions
from models.profile import profiles_table
from services.memory.window import ChatMessage

T = TypeVar("T")
P = profiles_table.c
PROFILE = select(
    P.system_prompt,
    P.system_prompt_tokens,
    P.system_prompt_counter,
    P.model,
    P.temperature,
    P.top_p,
    P.max_tokens,
    P.memory,
).where(P.profile_id == bindparam("c_profile"))


@dataclass(frozen=True, slots=True)
class Profile:
    """A chat profile's turn settings, as stored (None: not set)."""

    system: ChatMessage | None = None
    model: str | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    memory: dict[str, Any] | None = None


NO_PROFILE = Profile()


@dataclass(frozen=True, slots=True)
class TurnConfig:
    """A turn's settings, resolved."""

    system: ChatMessage | None
    model: str | None  # None: the LLM client's own (LLM_MODEL, or the server's first)
    temperature: float
    top_p: float | None
    max_tokens: int
    memory_type: str  # buffer | summary
    max_messages: int  # history and the new message
    max_context_tokens: int  # 0: no cap
    truncate: bool = True  # False: refuse a turn whose window would leave history out

    @property
    def candidates(self) -> int:
        """History to read: the message cap, less the new message; one more without
        truncation, to see whether the cap would leave something out."""
        return self.max_messages - 1 + (0 if self.truncate else 1)


def read_profile(db: Connection, profile_id: str | None) -> Profile:
    """The profile a session names; none when it names none or it was deleted."""
    if profile_id is None:
        return NO_PROFILE
    row = db.execute(PROFILE, {"c_profile": profile_id}).first()
    if row is None:
        return NO_PROFILE
    system = None
    if row.system_prompt:
        system = ChatMessage(
            "system", row.system_prompt, None, row.system_prompt_tokens, row.system_prompt_counter
        )
    return Profile(system, row.model, row.temperature, row.top_p, row.max_tokens, row.memory)


def resolve(
    options: TurnOptions,
    settings: Settings,
    session_system: ChatMessage | None,
    profile: Profile,
    default_system: ChatMessage | None,
) -> TurnConfig:
    """Request > session > profile > setting, field by field."""
    memory = profile.memory or {}
    return TurnConfig(
        system=session_system or profile.system or default_system,
        model=options.model if options.model is not None else profile.model,
        temperature=_pick(settings.default_temperature, options.temperature, profile.temperature),
        top_p=options.top_p if options.top_p is not None else profile.top_p,
        max_tokens=_pick(settings.default_max_tokens, options.max_new_tokens, profile.max_tokens),
        memory_type=memory.get("type") or settings.memory_type,
        max_messages=memory.get("max_messages") or settings.max_context_messages,
        max_context_tokens=memory.get("max_context_tokens") or settings.max_context_tokens,
        truncate=options.truncation == "auto",
    )


def _pick(default: T, *values: T | None) -> T:
    """The first value that is set, else the default."""
    return next((value for value in values if value is not None), default)
