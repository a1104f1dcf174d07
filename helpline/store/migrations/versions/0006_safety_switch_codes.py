"""switch_codes: the keyed hash of a one-time code that moves a WhatsApp
texter to Signal (issue 18, switch to Signal).

Revision ID: 0006_safety
Revises: 0005_media
Create Date: 2026-12-04 02:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import helpline.store.models

revision: str = "0006_safety"
down_revision: str | None = "0005_media"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "switch_codes",
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("texter_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("created_at", helpline.store.models.UTCDateTime(), nullable=False),
        sa.Column("expires_at", helpline.store.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["texter_id"], ["texters.id"]),
        sa.PrimaryKeyConstraint("code_hash"),
    )
    with op.batch_alter_table("switch_codes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_switch_codes_texter_id"), ["texter_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("switch_codes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_switch_codes_texter_id"))
    op.drop_table("switch_codes")
