"""Conversations as trees: each message's parent, each session's active leaf.

Every existing session becomes a chain in `seq` order (each message's parent is the
one before it), with its newest message as the active leaf: the history and every
context window read exactly as before.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("messages", sa.Column("parent_id", sa.String(length=36), nullable=True))
    # A message's children (its replies' versions, a subtree); with session_id first,
    # a session's first messages (parent NULL) are found without a scan too.
    op.create_index("ix_messages_parent", "messages", ["session_id", "parent_id"])
    op.add_column("sessions", sa.Column("active_leaf_id", sa.String(length=36), nullable=True))
    # One index walk per message on uq_messages_session_seq: the one before it.
    op.execute(
        "UPDATE messages SET parent_id = ("
        " SELECT earlier.message_id FROM messages AS earlier"
        " WHERE earlier.session_id = messages.session_id AND earlier.seq < messages.seq"
        " ORDER BY earlier.seq DESC LIMIT 1)"
    )
    op.execute(
        "UPDATE sessions SET active_leaf_id = ("
        " SELECT newest.message_id FROM messages AS newest"
        " WHERE newest.session_id = sessions.session_id"
        " ORDER BY newest.seq DESC LIMIT 1)"
    )


def downgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("active_leaf_id")
    op.drop_index("ix_messages_parent", table_name="messages")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("parent_id")
