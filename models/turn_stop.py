"""Stop requests for turns being generated, shared by every worker through the database.

A stop may reach any worker; the worker that owns the turn finds the request here
(it polls this small, usually empty table) and closes the upstream stream. The row
goes when the turn ends, in the same transaction that stores its final state.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey, String, Table
from sqlmodel import Field as TableField
from sqlmodel import SQLModel

from models.types import UTCDateTime


class TurnStopRecord(SQLModel, table=True):
    __tablename__ = "turn_stops"

    message_id: str = TableField(
        sa_column=Column(
            String(36),
            ForeignKey("messages.message_id", ondelete="CASCADE"),
            primary_key=True,
        )
    )
    requested_at: datetime = TableField(sa_column=Column(UTCDateTime(), nullable=False))


turn_stops_table: Table = TurnStopRecord.__table__  # type: ignore[attr-defined]
