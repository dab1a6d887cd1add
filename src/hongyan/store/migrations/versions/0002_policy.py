"""Message policy: per-account limits, blacklists, sensitive words, packages and prices, counters.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("accounts") as b:
        b.add_column(sa.Column("limit_daily", sa.Integer(), nullable=True))
        b.add_column(sa.Column("limit_daily_codes", sa.Integer(), nullable=True))
        b.add_column(sa.Column("limit_daily_ceiling", sa.Integer(), nullable=True))
        b.add_column(sa.Column("unit_price_micros", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("signatures") as b:
        b.add_column(sa.Column("category", sa.String(16), nullable=False, server_default="notice"))
    with op.batch_alter_table("messages") as b:
        b.add_column(sa.Column("unit_price_micros", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("ledger") as b:
        b.add_column(sa.Column("package_id", sa.Integer(), nullable=True))
        b.add_column(sa.Column("paid_cents", sa.BigInteger(), nullable=True))
    op.create_table(
        "blacklist",
        sa.Column("id", sa.Integer(), autoincrement=True),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("mobile", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_blacklist"),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_blacklist_account_id_accounts", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("account_id", "mobile", "kind", name="uq_blacklist_account_mobile_kind"),
    )
    op.create_index("ix_blacklist_mobile", "blacklist", ["mobile"])
    op.create_table(
        "sensitive_words",
        sa.Column("id", sa.Integer(), autoincrement=True),
        sa.Column("word", sa.String(200), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_sensitive_words"),
        sa.UniqueConstraint("word", name="uq_sensitive_words_word"),
    )
    op.create_table(
        "packages",
        sa.Column("id", sa.Integer(), autoincrement=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("segments", sa.BigInteger(), nullable=False),
        sa.Column("price_cents", sa.BigInteger(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False, server_default="1"),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_packages"),
        sa.UniqueConstraint("name", name="uq_packages_name"),
    )
    op.create_table(
        "counters",
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_counters"),
    )
    op.create_index("ix_counters_expires_at", "counters", ["expires_at"])
    policy_version = op.create_table(
        "policy_version",
        sa.Column("id", sa.Integer(), autoincrement=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_policy_version"),
    )
    op.bulk_insert(policy_version, [{"id": 1, "version": 0}])


def downgrade() -> None:
    for table in ("policy_version", "counters", "packages", "sensitive_words", "blacklist"):
        op.drop_table(table)
    with op.batch_alter_table("ledger") as b:
        b.drop_column("paid_cents")
        b.drop_column("package_id")
    with op.batch_alter_table("messages") as b:
        b.drop_column("unit_price_micros")
    with op.batch_alter_table("signatures") as b:
        b.drop_column("category")
    with op.batch_alter_table("accounts") as b:
        for col in ("unit_price_micros", "limit_daily_ceiling", "limit_daily_codes", "limit_daily"):
            b.drop_column(col)
