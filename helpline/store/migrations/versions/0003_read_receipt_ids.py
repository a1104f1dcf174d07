"""messages.provider_message_id: the provider's id of an inbound WhatsApp
message, sealed under the texter's data key, kept only while a read receipt
may still be sent for it (routing policy `read_receipts = true`; issue 19).

A wamid is base64 of a structure that holds the sender's phone number, so it
is never stored in clear: the blind `provider_ref` cannot be sent back to Meta.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04 02:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("provider_message_id", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("provider_message_id")
