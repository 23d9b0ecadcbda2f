"""Chat profiles: create, read, change, delete, find; owned like sessions.

A key sees its own profiles, an admin key (and AUTH_MODE=none) every one; another
key's profile is exactly as absent as a missing one. Names are unique per owner: the
check and the write share one transaction, and the unique index settles a race
between workers. A profile's system prompt is counted once, when it is set, as a
session's is. Deleting a profile clears it from the sessions that named it, in the
same transaction: they go on with the service's defaults.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ColumnElement, Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from models.auth import Caller
from models.profile import (
    ProfileCreate,
    ProfilePage,
    ProfilePublic,
    ProfileUpdate,
    profile_tags_table,
    profiles_table,
)
from models.session import sessions_table
from models.types import utcnow
from services.memory.counting import TokenCounter, system_count_values
from services.profiles.access import owner_of, visible_profiles
from services.profiles.errors import ProfileNameTaken, ProfileNotFound
from services.profiles.search import ProfileQuery, next_cursor, search_query
from services.storage import Database

P = profiles_table.c
T = profile_tags_table.c
S = sessions_table.c


class ProfileService:
    def __init__(self, database: Database, counter: TokenCounter) -> None:
        self.database, self.counter = database, counter

    async def create(self, body: ProfileCreate, caller: Caller) -> ProfilePublic:
        now = utcnow()
        row = body.model_dump(exclude_none=True) | {
            "profile_id": str(uuid.uuid4()),
            "owner": owner_of(caller),
            "tags": body.tags or [],
            "created_at": now,
            "updated_at": now,
        }
        row |= system_count_values(await self.counter.count_if_possible(body.system_prompt))
        await self.database.write(_insert, row)
        return _public(row)

    async def get(self, profile_id: str, caller: Caller) -> ProfilePublic:
        query = select(profiles_table).where(P.profile_id == profile_id, visible_profiles(caller))
        async with self.database.read() as db:
            row = (await db.execute(query)).mappings().first()
        if row is None:
            raise ProfileNotFound(profile_id)
        return _public(dict(row))

    async def update(self, profile_id: str, body: ProfileUpdate, caller: Caller) -> ProfilePublic:
        """The fields the body names (null clears one; a name cannot be cleared)."""
        changes = body.model_dump(include=body.model_fields_set)
        if changes.get("name", "") is None:
            changes.pop("name")
        if "tags" in changes:
            changes["tags"] = changes["tags"] or []
        if "system_prompt" in changes:
            count = await self.counter.count_if_possible(changes["system_prompt"])
            changes |= system_count_values(count)
        changes["updated_at"] = utcnow()
        row = await self.database.write(_update, profile_id, changes, visible_profiles(caller))
        return _public(row)

    async def delete(self, profile_id: str, caller: Caller) -> None:
        await self.database.write(_delete, profile_id, visible_profiles(caller))

    async def named(self, name: str, caller: Caller) -> ProfilePublic | None:
        """The caller's profile of that name (an admin's own first, then anyone's)."""
        own_first = (P.owner == owner_of(caller)).desc()
        query = select(profiles_table).where(P.name == name, visible_profiles(caller))
        async with self.database.read() as db:
            row = (await db.execute(query.order_by(own_first).limit(1))).mappings().first()
        return None if row is None else _public(dict(row))

    async def names(self, caller: Caller) -> list[str]:
        """Every profile name the caller may use, in order, each once."""
        query = select(P.name).where(visible_profiles(caller)).order_by(P.name).distinct()
        async with self.database.read() as db:
            return list((await db.execute(query)).scalars())

    async def search(self, query: ProfileQuery, caller: Caller) -> ProfilePage:
        async with self.database.read() as db:
            rows = (await db.execute(search_query(query, visible_profiles(caller)))).mappings()
            found = [_public(dict(row)) for row in rows]
        items = found[: query.limit]
        more = len(found) > query.limit
        return ProfilePage(items=items, next_cursor=next_cursor(query, items[-1]) if more else None)


def _public(row: dict[str, Any]) -> ProfilePublic:
    return ProfilePublic(**(row | {"owner": row["owner"] or None}))


def _insert(db: Connection, row: dict[str, Any]) -> None:
    _refuse_taken_name(db, row["owner"], row["name"], None)
    try:
        db.execute(insert(profiles_table).values(row))
    except IntegrityError as exc:  # another worker took the name meanwhile
        raise ProfileNameTaken(row["name"]) from exc
    _write_tags(db, row["profile_id"], row["tags"])


def _update(
    db: Connection, profile_id: str, changes: dict[str, Any], visible: ColumnElement[bool]
) -> dict[str, Any]:
    found = db.execute(select(P.owner).where(P.profile_id == profile_id, visible)).first()
    if found is None:
        raise ProfileNotFound(profile_id)
    if "name" in changes:
        _refuse_taken_name(db, found.owner, changes["name"], profile_id)
    statement = update(profiles_table).where(P.profile_id == profile_id).values(changes)
    try:
        row = db.execute(statement.returning(profiles_table)).mappings().one()
    except IntegrityError as exc:
        raise ProfileNameTaken(changes["name"]) from exc
    if "tags" in changes:
        db.execute(delete(profile_tags_table).where(T.profile_id == profile_id))
        _write_tags(db, profile_id, changes["tags"])
    return dict(row)


def _delete(db: Connection, profile_id: str, visible: ColumnElement[bool]) -> None:
    gone = db.execute(
        delete(profiles_table).where(P.profile_id == profile_id, visible).returning(P.profile_id)
    ).first()
    if gone is None:
        raise ProfileNotFound(profile_id)
    db.execute(delete(profile_tags_table).where(T.profile_id == profile_id))
    db.execute(update(sessions_table).where(S.profile_id == profile_id).values(profile_id=None))


def _refuse_taken_name(db: Connection, owner: str, name: str, other_than: str | None) -> None:
    query = select(P.profile_id).where(P.owner == owner, P.name == name)
    if other_than is not None:
        query = query.where(P.profile_id != other_than)
    if db.execute(query).first() is not None:
        raise ProfileNameTaken(name)


def _write_tags(db: Connection, profile_id: str, tags: list[str]) -> None:
    if tags:
        db.execute(
            insert(profile_tags_table), [{"profile_id": profile_id, "tag": tag} for tag in tags]
        )
