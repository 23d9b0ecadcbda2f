"""Who may see and use a profile: its key's, or any for an admin key (and with
AUTH_MODE=none). Another key's profile is exactly as absent as a missing one."""

from __future__ import annotations

from sqlalchemy import ColumnElement, Connection, select, true

from models.auth import Caller
from models.profile import profiles_table
from services.profiles.errors import InvalidProfile

P = profiles_table.c


def owner_of(caller: Caller) -> str:
    """The owner a caller's new profile gets: its key's name ("" without keys)."""
    return caller.name or ""


def visible_profiles(caller: Caller) -> ColumnElement[bool]:
    """SQL condition: the caller may see the profile."""
    return true() if caller.admin else P.owner == owner_of(caller)


def require_profile(db: Connection, caller: Caller, profile_id: str) -> None:
    """InvalidProfile unless the caller may give a session this profile."""
    query = select(P.profile_id).where(P.profile_id == profile_id, visible_profiles(caller))
    if db.execute(query).first() is None:
        raise InvalidProfile(profile_id)
