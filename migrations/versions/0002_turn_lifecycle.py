"""Turn lifecycle: delta lengths for resuming streams; stop requests across workers.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("messages", sa.Column("delta_lengths", sa.JSON(), nullable=True))
    op.create_table(
        "turn_stops",
        sa.Column("message_id", sa.String(length=36), nullable=False),
        sa.Column("requested_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["message_id"], ["messages.message_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("message_id"),
    )


def downgrade() -> None:
    op.drop_table("turn_stops")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("delta_lengths")
