"""Safety alerts (issue 18): texters.alerts_since (the subscription),
safety_alerts (masked text sealed under the alert's own key) and
alert_deliveries (counted by status, never listed).

Revision ID: 0007_safety
Revises: 0006_safety
Create Date: 2026-12-04 02:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import helpline.store.models

revision: str = "0007_safety"
down_revision: str | None = "0006_safety"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sqlmodel.sql.sqltypes.AutoString(length=32)


def upgrade() -> None:
    with op.batch_alter_table("texters", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("alerts_since", helpline.store.models.UTCDateTime(), nullable=True)
        )
    op.create_table(
        "safety_alerts",
        sa.Column("id", _ID, nullable=False),
        sa.Column("data_key_id", _ID, nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
        sa.Column("drafted_by_id", _ID, nullable=True),
        sa.Column("approved_by_id", _ID, nullable=True),
        sa.Column("created_at", helpline.store.models.UTCDateTime(), nullable=False),
        sa.Column("sent_at", helpline.store.models.UTCDateTime(), nullable=True),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["data_key_id"], ["data_keys.id"]),
        sa.ForeignKeyConstraint(["drafted_by_id"], ["users.id"]),
        sa.ForeignKeyConstraint(["approved_by_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("safety_alerts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_safety_alerts_sent_at"), ["sent_at"], unique=False)
    op.create_table(
        "alert_deliveries",
        sa.Column("id", _ID, nullable=False),
        sa.Column("alert_id", _ID, nullable=False),
        sa.Column("message_id", _ID, nullable=False),
        sa.Column("texter_id", _ID, nullable=False),
        sa.ForeignKeyConstraint(["alert_id"], ["safety_alerts.id"]),
        sa.ForeignKeyConstraint(["message_id"], ["messages.id"]),
        sa.ForeignKeyConstraint(["texter_id"], ["texters.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("alert_deliveries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alert_deliveries_alert_id"), ["alert_id"],
                              unique=False)
        batch_op.create_index(batch_op.f("ix_alert_deliveries_texter_id"), ["texter_id"],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table("alert_deliveries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alert_deliveries_texter_id"))
        batch_op.drop_index(batch_op.f("ix_alert_deliveries_alert_id"))
    op.drop_table("alert_deliveries")
    with op.batch_alter_table("safety_alerts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_safety_alerts_sent_at"))
    op.drop_table("safety_alerts")
    with op.batch_alter_table("texters", schema=None) as batch_op:
        batch_op.drop_column("alerts_since")
