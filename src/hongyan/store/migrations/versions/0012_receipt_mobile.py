"""Kept receipts remember the handset they report on (the deliver_sm source_addr), so a message whose worker died
with its submit in flight can be matched to the receipt of that submit instead of being sent again
(docs/decisions/0002-submit-crash-window.md).

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("pending_receipts") as b:
        b.add_column(sa.Column("mobile", sa.String(32), nullable=True))
    op.create_index("ix_pending_receipts_mobile", "pending_receipts", ["channel", "mobile"])


def downgrade() -> None:
    op.drop_index("ix_pending_receipts_mobile", table_name="pending_receipts")
    with op.batch_alter_table("pending_receipts") as b:
        b.drop_column("mobile")
