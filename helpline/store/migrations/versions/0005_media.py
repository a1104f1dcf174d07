"""media: photos, voice notes, videos, stickers and documents of messages,
sealed under the texter's data key, inline or in the blob directory (issue 15).

Revision ID: 0005_media
Revises: 0004_safety
Create Date: 2026-12-04 02:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import helpline.store.models

revision: str = "0005_media"
down_revision: str | None = "0004_safety"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STR = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        "media",
        sa.Column("id", _STR(length=32), nullable=False),
        sa.Column("message_id", _STR(length=32), nullable=False),
        sa.Column("conversation_id", _STR(length=32), nullable=False),
        sa.Column("texter_id", _STR(length=32), nullable=False),
        sa.Column("kind", _STR(length=16), nullable=False),
        sa.Column("state", _STR(length=12), nullable=False),
        sa.Column("source", sa.LargeBinary(), nullable=True),
        sa.Column("content_type", _STR(length=64), nullable=True),
        sa.Column("size", sa.Integer(), nullable=True),
        sa.Column("content", sa.LargeBinary(), nullable=True),
        sa.Column("blob_ref", _STR(length=64), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", helpline.store.models.UTCDateTime(), nullable=False),
        sa.Column("locked_until", helpline.store.models.UTCDateTime(), nullable=True),
        sa.Column("error_reason", _STR(length=64), nullable=True),
        sa.Column("created_at", helpline.store.models.UTCDateTime(), nullable=False),
        sa.Column("stored_at", helpline.store.models.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversations.id"]),
        sa.ForeignKeyConstraint(["message_id"], ["messages.id"]),
        sa.ForeignKeyConstraint(["texter_id"], ["texters.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("media", schema=None) as batch_op:
        for column in ("message_id", "conversation_id", "texter_id", "state", "next_attempt_at"):
            batch_op.create_index(batch_op.f(f"ix_media_{column}"), [column], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("media", schema=None) as batch_op:
        for column in ("message_id", "conversation_id", "texter_id", "state", "next_attempt_at"):
            batch_op.drop_index(batch_op.f(f"ix_media_{column}"))
    op.drop_table("media")
