"""Enterprise certifications (企业认证) and the indexes of the console's reports.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "certifications",
        sa.Column("id", sa.Integer(), autoincrement=True),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("company_name", sa.String(100), nullable=False),
        sa.Column("licence_no", sa.String(18), nullable=False),
        sa.Column("contact_name", sa.String(50), nullable=False),
        sa.Column("contact_phone", sa.String(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_certifications"),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_certifications_account_id_accounts", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_certifications_account_id", "certifications", ["account_id"])
    op.create_index("ix_certifications_state", "certifications", ["state"])
    # System-wide charts and searches by time (per-account ones use ix_messages_account_id_created_at).
    op.create_index("ix_messages_created_at", "messages", ["created_at"])
    op.create_index("ix_replies_account_id_received_at", "replies", ["account_id", "received_at"])


def downgrade() -> None:
    op.drop_index("ix_replies_account_id_received_at", "replies")
    op.drop_index("ix_messages_created_at", "messages")
    op.drop_index("ix_certifications_state", "certifications")
    op.drop_index("ix_certifications_account_id", "certifications")
    op.drop_table("certifications")
