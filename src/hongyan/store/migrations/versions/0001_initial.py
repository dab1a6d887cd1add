"""Initial schema: accounts, signatures, templates (with the built-in default), messages, ledger, smsid nodes.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_BIGINT_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
DEFAULT_TEMPLATE_TEXT = "您的验证码是：【变量】。请不要把验证码泄露给其他人。"


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("api_id", sa.String(16), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("apikey_enc", sa.Text(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("allowed_ips", sa.Text(), nullable=False, server_default=""),
        sa.Column("registered_ips", sa.Text(), nullable=False, server_default=""),
        sa.Column("balance", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("default_signature", sa.String(64), nullable=True),
        sa.Column("require_template", sa.Boolean(), nullable=False, server_default="0"),
        sa.Column("receipt_url", sa.Text(), nullable=True),
        sa.Column("reply_url", sa.Text(), nullable=True),
        sa.Column("template_url", sa.Text(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_accounts"),
        sa.UniqueConstraint("api_id", name="uq_accounts_api_id"),
    )
    op.create_table(
        "signatures",
        sa.Column("id", sa.Integer(), autoincrement=True),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_signatures"),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_signatures_account_id_accounts", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("account_id", "text", name="uq_signatures_account_text"),
    )
    templates = op.create_table(
        "templates",
        sa.Column("id", sa.Integer(), autoincrement=True),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("var_max_lengths", sa.Text(), nullable=False, server_default="[]"),
        sa.Column("category", sa.String(16), nullable=False, server_default="notice"),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_templates"),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_templates_account_id_accounts", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_templates_account_id", "templates", ["account_id"])
    op.create_table(
        "messages",
        sa.Column("id", _BIGINT_PK, autoincrement=True),
        sa.Column("smsid", sa.String(20), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("mobile", sa.String(32), nullable=False),
        sa.Column("carrier", sa.String(16), nullable=False, server_default=""),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("signature", sa.String(64), nullable=True),
        sa.Column("template_id", sa.Integer(), nullable=True),
        sa.Column("segments", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_messages"),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name="fk_messages_account_id_accounts"),
        sa.UniqueConstraint("smsid", name="uq_messages_smsid"),
    )
    op.create_index("ix_messages_account_id_created_at", "messages", ["account_id", "created_at"])
    op.create_index("ix_messages_mobile", "messages", ["mobile"])
    op.create_table(
        "ledger",
        sa.Column("id", _BIGINT_PK, autoincrement=True),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("smsid", sa.String(20), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ledger"),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name="fk_ledger_account_id_accounts"),
    )
    op.create_index("ix_ledger_account_id", "ledger", ["account_id"])
    op.create_table(
        "smsid_nodes",
        sa.Column("id", sa.Integer(), autoincrement=True),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("host", sa.String(128), nullable=False),
        sa.Column("started_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_smsid_nodes"),
    )
    op.bulk_insert(
        templates,
        [
            {
                "id": 1,
                "account_id": None,
                "text": DEFAULT_TEMPLATE_TEXT,
                "var_max_lengths": "[6]",
                "category": "verification",
                "state": "approved",
                "reason": None,
                "created_at": 0,
                "updated_at": 0,
            }
        ],
    )
    if op.get_bind().dialect.name == "postgresql":
        # The explicit id 1 above does not advance the sequence.
        op.execute("SELECT setval(pg_get_serial_sequence('templates', 'id'), 1)")


def downgrade() -> None:
    for table in ("smsid_nodes", "ledger", "messages", "templates", "signatures", "accounts"):
        op.drop_table(table)
