"""Chat profiles, running summaries, and the model of each reply.

`profiles` (with `profile_tags` for the tag filter) are named turn configurations
owned like sessions; `sessions.profile_id` names one (cleared by the profile's delete).
`summaries` are running summaries of a path's first messages (models/summary.py),
deleted with the message they cover through. `messages.model` is the model that
answered a reply. Existing rows get none of them: sessions keep the service's
defaults, and no summary exists until a session's memory type is `summary`.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from models.types import UTCDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    _profiles()
    _summaries()
    op.add_column("sessions", sa.Column("profile_id", sa.String(length=36), nullable=True))
    op.add_column("messages", sa.Column("model", sa.String(length=300), nullable=True))


def _profiles() -> None:
    op.create_table(
        "profiles",
        sa.Column("profile_id", sa.String(length=36), primary_key=True),
        sa.Column("owner", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.String(), nullable=True),
        sa.Column("system_prompt", sa.String(), nullable=True),
        sa.Column("system_prompt_tokens", sa.Integer(), nullable=True),
        sa.Column("system_prompt_counter", sa.String(length=300), nullable=True),
        sa.Column("model", sa.String(length=300), nullable=True),
        sa.Column("temperature", sa.Float(), nullable=True),
        sa.Column("top_p", sa.Float(), nullable=True),
        sa.Column("max_tokens", sa.Integer(), nullable=True),
        sa.Column("memory", sa.JSON(), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_index("uq_profiles_owner_name", "profiles", ["owner", "name"], unique=True)
    op.create_index("ix_profiles_owner_updated", "profiles", ["owner", "updated_at", "profile_id"])
    op.create_table(
        "profile_tags",
        sa.Column(
            "profile_id",
            sa.String(length=36),
            sa.ForeignKey("profiles.profile_id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("tag", sa.String(length=50), primary_key=True),
    )
    op.create_index("ix_profile_tags_tag", "profile_tags", ["tag", "profile_id"])


def _summaries() -> None:
    op.create_table(
        "summaries",
        sa.Column("summary_id", sa.String(length=36), primary_key=True),
        sa.Column(
            "session_id",
            sa.String(length=36),
            sa.ForeignKey("sessions.session_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "covers_through_message_id",
            sa.String(length=36),
            sa.ForeignKey("messages.message_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("covered_messages", sa.Integer(), nullable=False),
        sa.Column("text", sa.String(), nullable=False),
        sa.Column("model", sa.String(length=300), nullable=True),
        sa.Column("token_usage", sa.JSON(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("token_count", sa.Integer(), nullable=True),
        sa.Column("token_counter", sa.String(length=300), nullable=True),
        sa.Column("previous_summary_id", sa.String(length=36), nullable=True),
    )
    op.create_index("ix_summaries_session", "summaries", ["session_id", "created_at", "summary_id"])
    op.create_index("ix_summaries_covers", "summaries", ["covers_through_message_id"])


def downgrade() -> None:
    op.drop_column("messages", "model")
    op.drop_column("sessions", "profile_id")
    op.drop_table("summaries")
    op.drop_table("profile_tags")
    op.drop_table("profiles")
