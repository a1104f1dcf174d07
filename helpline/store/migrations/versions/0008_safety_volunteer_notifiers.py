"""volunteer_notifiers: a volunteer's Signal number for content-free "someone
is waiting" notifications (sealed under the account's data key) and quiet
hours (issue 18, volunteer notifications).

Revision ID: 0008_safety
Revises: 0007_safety
Create Date: 2026-12-04 02:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import helpline.store.models

revision: str = "0008_safety"
down_revision: str | None = "0007_safety"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "volunteer_notifiers",
        sa.Column("user_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("signal_target", sa.LargeBinary(), nullable=False),
        sa.Column("quiet_from", sqlmodel.sql.sqltypes.AutoString(length=5), nullable=True),
        sa.Column("quiet_until", sqlmodel.sql.sqltypes.AutoString(length=5), nullable=True),
        sa.Column("last_sent_at", helpline.store.models.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("user_id"),
    )


def downgrade() -> None:
    op.drop_table("volunteer_notifiers")
