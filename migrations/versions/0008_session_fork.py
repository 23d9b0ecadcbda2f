"""Forks: a session copied from another one's path names where it came from.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # No foreign keys: the source may be deleted later; the fork keeps its history.
    op.add_column(
        "sessions", sa.Column("forked_from_session_id", sa.String(length=36), nullable=True)
    )
    op.add_column(
        "sessions", sa.Column("forked_from_message_id", sa.String(length=36), nullable=True)
    )


def downgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("forked_from_message_id")
        batch.drop_column("forked_from_session_id")
