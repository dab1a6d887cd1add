"""Delivery robustness: the submit-intent marker, other-base spellings of kept receipts' ids, unparsed PDUs.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_BIGINT_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("messages") as b:
        b.add_column(sa.Column("submit_started_at", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("pending_receipts") as b:
        b.add_column(sa.Column("carrier_msg_id_alt1", sa.String(64), nullable=True))
        b.add_column(sa.Column("carrier_msg_id_alt2", sa.String(64), nullable=True))
    op.create_table(
        "unparsed_deliveries",
        sa.Column("id", _BIGINT_PK, autoincrement=True),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("command", sa.String(16), nullable=False),
        sa.Column("source_addr", sa.String(32), nullable=False, server_default=""),
        sa.Column("destination_addr", sa.String(32), nullable=False, server_default=""),
        sa.Column("esm_class", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("data_coding", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("payload_hex", sa.Text(), nullable=False, server_default=""),
        sa.Column("tlvs", sa.Text(), nullable=False, server_default="{}"),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("received_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_unparsed_deliveries"),
    )
    op.create_index("ix_unparsed_deliveries_received_at", "unparsed_deliveries", ["received_at"])


def downgrade() -> None:
    op.drop_index("ix_unparsed_deliveries_received_at", table_name="unparsed_deliveries")
    op.drop_table("unparsed_deliveries")
    with op.batch_alter_table("pending_receipts") as b:
        b.drop_column("carrier_msg_id_alt2")
        b.drop_column("carrier_msg_id_alt1")
    with op.batch_alter_table("messages") as b:
        b.drop_column("submit_started_at")
