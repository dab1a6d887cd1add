"""Delivery: message delivery columns, state events, channels, carrier ids, pending receipts.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_BIGINT_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _message_columns() -> list[sa.Column]:
    return [
        sa.Column("next_attempt_at", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("lease_owner", sa.String(64), nullable=True),
        sa.Column("lease_expires_at", sa.BigInteger(), nullable=True),
        sa.Column("channel", sa.String(64), nullable=True),
        sa.Column("parts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("carrier_status", sa.String(32), nullable=True),
        sa.Column("carrier_error", sa.String(32), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("submitted_at", sa.BigInteger(), nullable=True),
        sa.Column("done_at", sa.BigInteger(), nullable=True),
    ]


def upgrade() -> None:
    with op.batch_alter_table("messages") as b:
        for col in _message_columns():
            b.add_column(col)
    op.create_index("ix_messages_state_next_attempt_at", "messages", ["state", "next_attempt_at"])
    op.create_table(
        "message_events",
        sa.Column("id", _BIGINT_PK, autoincrement=True),
        sa.Column("smsid", sa.String(20), nullable=False),
        sa.Column("from_state", sa.String(16), nullable=False),
        sa.Column("to_state", sa.String(16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_message_events"),
    )
    op.create_index("ix_message_events_smsid", "message_events", ["smsid"])
    op.create_table(
        "channels",
        sa.Column("id", sa.Integer(), autoincrement=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False, server_default="smpp"),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("system_id", sa.String(16), nullable=False),
        sa.Column("password_enc", sa.Text(), nullable=False),
        sa.Column("system_type", sa.String(13), nullable=False, server_default=""),
        sa.Column("source_addr", sa.String(21), nullable=False, server_default=""),
        sa.Column("tps", sa.Integer(), nullable=False, server_default="200"),
        sa.Column("window", sa.Integer(), nullable=False, server_default="50"),
        sa.Column("carriers", sa.String(128), nullable=False, server_default="mobile,unicom,telecom,broadnet,virtual"),
        sa.Column("priority", sa.String(16), nullable=False, server_default="primary"),
        sa.Column("group_name", sa.String(64), nullable=False, server_default="default"),
        sa.Column("weight", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("enabled", sa.Boolean(), nullable=False, server_default="1"),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_channels"),
        sa.UniqueConstraint("name", name="uq_channels_name"),
    )
    op.create_table(
        "carrier_ids",
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("carrier_msg_id", sa.String(64), nullable=False),
        sa.Column("smsid", sa.String(20), nullable=False),
        sa.Column("part", sa.Integer(), nullable=False),
        sa.Column("stat", sa.String(32), nullable=True),
        sa.Column("err", sa.String(32), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("channel", "carrier_msg_id", name="pk_carrier_ids"),
    )
    op.create_index("ix_carrier_ids_smsid", "carrier_ids", ["smsid"])
    op.create_table(
        "pending_receipts",
        sa.Column("id", _BIGINT_PK, autoincrement=True),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("carrier_msg_id", sa.String(64), nullable=False),
        sa.Column("stat", sa.String(32), nullable=False),
        sa.Column("err", sa.String(32), nullable=True),
        sa.Column("done_at", sa.BigInteger(), nullable=True),
        sa.Column("received_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_pending_receipts"),
    )
    op.create_index("ix_pending_receipts_channel", "pending_receipts", ["channel", "carrier_msg_id"])


def downgrade() -> None:
    for table in ("pending_receipts", "carrier_ids", "channels", "message_events"):
        op.drop_table(table)
    op.drop_index("ix_messages_state_next_attempt_at", "messages")
    with op.batch_alter_table("messages") as b:
        for col in reversed(_message_columns()):
            b.drop_column(col.name)
