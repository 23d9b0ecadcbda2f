"""The index of replies being generated gets `status` as a second column.

With only `session_id`, it tied with ix_messages_parent (session_id, parent_id) in
SQLite's planner, which took the other one and read every message of the session to
find the one generating: 130 ms on each turn of a 100,000-message session. With two
columns matched it is the planner's choice again.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

STREAMING = sa.text("status = 'streaming'")


def upgrade() -> None:
    # A file made before migrations (stamped 0001) may not have had it at all.
    op.drop_index("ix_messages_streaming", table_name="messages", if_exists=True)
    op.create_index(
        "ix_messages_streaming",
        "messages",
        ["session_id", "status"],
        sqlite_where=STREAMING,
        postgresql_where=STREAMING,
    )


def downgrade() -> None:
    op.drop_index("ix_messages_streaming", table_name="messages")
    op.create_index(
        "ix_messages_streaming",
        "messages",
        ["session_id"],
        sqlite_where=STREAMING,
        postgresql_where=STREAMING,
    )
