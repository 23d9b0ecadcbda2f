"""Tool calls: a reply's `tool_calls`, a `tool` message's `tool_results`, and the
`tool` role those messages have; and `echo`, what a /v1 response's request said that
retrieving it gives back (its metadata, instructions, tools...).

The role is a CHECK constraint: SQLite cannot alter one, so the messages table is
copied once (alembic's batch mode); PostgreSQL swaps the constraint in place.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

ROLES_BEFORE = "role IN ('system', 'user', 'assistant')"
ROLES_AFTER = "role IN ('system', 'user', 'assistant', 'tool')"


def _has_role_check() -> bool:
    """Files made before migrations existed (stamped 0001) have no role constraint."""
    checks = sa.inspect(op.get_bind()).get_check_constraints("messages")
    return any(check["name"] == "ck_messages_role" for check in checks)


def upgrade() -> None:
    had_check = _has_role_check()
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("tool_calls", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("tool_results", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("echo", sa.JSON(), nullable=True))
        if had_check:
            batch.drop_constraint("ck_messages_role", type_="check")
        batch.create_check_constraint("ck_messages_role", ROLES_AFTER)


def downgrade() -> None:
    op.execute("DELETE FROM messages WHERE role = 'tool'")
    with op.batch_alter_table("messages") as batch:
        batch.drop_constraint("ck_messages_role", type_="check")
        batch.create_check_constraint("ck_messages_role", ROLES_BEFORE)
        batch.drop_column("echo")
        batch.drop_column("tool_results")
        batch.drop_column("tool_calls")
