"""texter_identifiers: every keyed blind index a texter has been seen with
(WhatsApp phone number, BSUID, parent BSUID; Signal UUID and number), so one
person is one texter and erasure removes every value (issue 23).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04 00:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import helpline.store.models

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "texter_identifiers",
        sa.Column("blind_index", sa.String(length=64), nullable=False),
        sa.Column("texter_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("created_at", helpline.store.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["texter_id"], ["texters.id"]),
        sa.PrimaryKeyConstraint("blind_index"),
    )
    with op.batch_alter_table("texter_identifiers", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_texter_identifiers_texter_id"), ["texter_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("texter_identifiers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_texter_identifiers_texter_id"))
    op.drop_table("texter_identifiers")
