"""channel_pauses per helpline: a pause is about one helpline's sending number.

A Signal captcha or a WhatsApp rate limit is the platform's answer to one
number. With several helplines in one installation (0009_helplines) a pause
keyed by the channel alone stopped every helpline's sends on that channel;
keyed by (helpline, channel) it stops only the number that was refused.
Existing pauses belonged to the only helpline there was: the default one.

Revision ID: 0010_channel_pauses
Revises: 0009_helplines
Create Date: 2026-12-04 14:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import helpline.store.models

revision: str = "0010_channel_pauses"
down_revision: str | None = "0009_helplines"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEFAULT = "default"


def upgrade() -> None:
    # A small table (one row per paused number at most): rebuilt on both
    # databases, which sidesteps SQLite's primary keys that cannot be altered.
    op.rename_table("channel_pauses", "_old_channel_pauses")
    op.create_table(
        "channel_pauses",
        sa.Column("helpline_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("until", helpline.store.models.UTCDateTime(), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.PrimaryKeyConstraint("helpline_id", "channel", name="pk_channel_pauses"),
    )
    op.execute(
        "INSERT INTO channel_pauses (helpline_id, channel, until, reason) "
        f"SELECT '{DEFAULT}', channel, until, reason FROM _old_channel_pauses"  # noqa: S608
    )
    op.drop_table("_old_channel_pauses")


def downgrade() -> None:
    raise NotImplementedError(
        "0010_channel_pauses is not reversible: other helplines' pauses would collide"
    )
