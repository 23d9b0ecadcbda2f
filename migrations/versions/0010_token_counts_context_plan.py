"""Token counts kept with each message and system prompt, and each reply's context plan.

`token_count` is the message content's tokens as counted by `token_counter`
("server:<model>" or "estimate"); `context_plan` (assistant messages) is what was
sent for the reply, as ids and counts (models/context.py). Older messages have
neither: they are estimated when a window needs them, and have no plan.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("messages", sa.Column("token_count", sa.Integer(), nullable=True))
    op.add_column("messages", sa.Column("token_counter", sa.String(length=300), nullable=True))
    op.add_column("messages", sa.Column("context_plan", sa.JSON(), nullable=True))
    op.add_column("sessions", sa.Column("system_prompt_tokens", sa.Integer(), nullable=True))
    op.add_column(
        "sessions", sa.Column("system_prompt_counter", sa.String(length=300), nullable=True)
    )


def downgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("system_prompt_counter")
        batch.drop_column("system_prompt_tokens")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("context_plan")
        batch.drop_column("token_counter")
        batch.drop_column("token_count")
