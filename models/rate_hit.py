"""Counted requests of each API key, when the rate limit is kept in the database
(RATE_LIMIT_STORAGE_URL=database, the default on PostgreSQL): every instance counts
into the same rows, so a limit holds exactly across instances and machines.

A row is one request, at the database's clock (seconds since the epoch): one clock
for every machine. A key's rows older than its longest period go as it sends more.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Double, Index, Integer, String, Table
from sqlmodel import Field as TableField
from sqlmodel import SQLModel


class RateHitRecord(SQLModel, table=True):
    __tablename__ = "rate_limit_hits"
    __table_args__ = (Index("ix_rate_limit_hits_key_at", "key", "at"),)

    id: int | None = TableField(
        default=None,
        sa_column=Column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    )
    key: str = TableField(sa_column=Column(String(100), nullable=False))
    at: float = TableField(sa_column=Column(Double(), nullable=False))


rate_hits_table: Table = RateHitRecord.__table__  # type: ignore[attr-defined]
