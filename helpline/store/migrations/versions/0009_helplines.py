"""helplines: several helplines in one installation (issue 17).

Creates `helplines` (with the default helpline every existing row moves
into: the numbers and policy of a one-helpline installation stay in its
settings, which keep applying to it) and `memberships`, and gives every
root row of a helpline's data a non-null `helpline_id`: texters,
conversations, accounts, saved replies, alerts, safety alerts, the audit log and the
statistics tables (where it joins the primary key). Rows hanging off a
texter or conversation reach the helpline through that parent.

Revision ID: 0009_helplines
Revises: 0008_safety
Create Date: 2026-12-04 02:03:27
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import helpline.store.models

revision: str = "0009_helplines"
down_revision: str | None = "0008_safety"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEFAULT = "default"
_ID = sqlmodel.sql.sqltypes.AutoString(length=32)
# Tables whose rows belong to a helpline, with a foreign key to it.
_OWNED = ("texters", "conversations", "users", "saved_replies", "alerts", "safety_alerts")
_STATS = {
    "stat_counts": ("period", "bucket", "metric", "dimension", "key"),
    "stat_published": ("period", "bucket", "metric", "dimension", "key"),
    "stat_partitions": ("partition",),
}


def _owner_column() -> sa.Column[str]:
    # The server default backfills every existing row into the default
    # helpline in the same statement that adds the column.
    return sa.Column("helpline_id", _ID, nullable=False, server_default=DEFAULT)


def upgrade() -> None:
    helplines = op.create_table(
        "helplines",
        sa.Column("id", _ID, nullable=False),
        sa.Column("slug", sa.String(length=32), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("whatsapp_phone_number_id", sa.String(length=64), nullable=True),
        sa.Column("signal_number", sa.String(length=32), nullable=True),
        sa.Column("policy", sqlmodel.sql.sqltypes.AutoString(length=200000), nullable=True),
        sa.Column("created_at", helpline.store.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("signal_number"),
        sa.UniqueConstraint("slug"),
        sa.UniqueConstraint("whatsapp_phone_number_id"),
    )
    from datetime import UTC, datetime

    op.bulk_insert(helplines, [{"id": DEFAULT, "slug": DEFAULT, "name": "Helpline",
                                "created_at": datetime.now(UTC)}])
    op.create_table(
        "memberships",
        sa.Column("id", _ID, nullable=False),
        sa.Column("user_id", _ID, nullable=False),
        sa.Column("helpline_id", _ID, nullable=False),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("partner_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("created_at", helpline.store.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["helpline_id"], ["helplines.id"]),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("user_id", "helpline_id"),
    )
    with op.batch_alter_table("memberships", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_memberships_helpline_id"), ["helpline_id"])
        batch_op.create_index(batch_op.f("ix_memberships_user_id"), ["user_id"])

    postgres = op.get_bind().dialect.name == "postgresql"
    for table in _OWNED:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(_owner_column())
            batch_op.create_index(batch_op.f(f"ix_{table}_helpline_id"), ["helpline_id"])
            if postgres:
                # SQLite adds a foreign key only by copying the table, which
                # its enforced foreign keys refuse for a referenced table
                # (texters, users): there the column stays unconstrained and
                # the app is what writes it.
                batch_op.create_foreign_key(
                    f"fk_{table}_helpline_id", "helplines", ["helpline_id"], ["id"]
                )
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        # The queue page: one helpline's open conversations, longest waiting first.
        batch_op.create_index(
            "ix_conversations_helpline_status_waiting",
            ["helpline_id", "status", "waiting_since"],
        )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.add_column(_owner_column())
        batch_op.create_index(batch_op.f("ix_audit_log_helpline_id"), ["helpline_id"])
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("helpline_id", _ID, nullable=True))
        if postgres:
            batch_op.create_foreign_key(
                "fk_sessions_helpline_id", "helplines", ["helpline_id"], ["id"]
            )

    for table, key in _STATS.items():
        if postgres:
            op.add_column(table, _owner_column())
            op.drop_constraint(f"{table}_pkey", table, type_="primary")
            op.create_primary_key(f"{table}_pkey", table, ["helpline_id", *key])
        else:
            _rebuild_with_owner_key(table, key)


def _rebuild_with_owner_key(table: str, key: tuple[str, ...]) -> None:
    """SQLite cannot alter a primary key: copy the table into one whose key
    starts with the helpline (what batch mode does, without reflecting the
    old key over the new one)."""
    bind = op.get_bind()
    old = sa.Table(table, sa.MetaData(), autoload_with=bind)
    columns = [_owner_column()] + [
        sa.Column(c.name, c.type, nullable=c.nullable) for c in old.columns
    ]
    temporary = f"_new_{table}"
    op.create_table(
        temporary, *columns, sa.PrimaryKeyConstraint("helpline_id", *key, name=f"pk_{table}")
    )
    names = ", ".join(f'"{c.name}"' for c in old.columns)
    op.execute(f'INSERT INTO "{temporary}" ("helpline_id", {names}) '  # noqa: S608
               f"SELECT '{DEFAULT}', {names} FROM \"{table}\"")
    indexes = sa.inspect(bind).get_indexes(table)
    op.drop_table(table)
    op.rename_table(temporary, table)
    for index in indexes:
        op.create_index(index["name"], table, list(index["column_names"]))


def downgrade() -> None:
    raise NotImplementedError("0009_helplines is not reversible: rows of other helplines would be lost")
