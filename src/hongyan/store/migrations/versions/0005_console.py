"""Console: users (linked to an account, optional operator flag), sessions, failed logins.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_BIGINT_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "console_users",
        sa.Column("id", sa.Integer(), autoincrement=True),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("phone", sa.String(32), nullable=False, server_default=""),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("is_operator", sa.Boolean(), nullable=False, server_default="0"),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_console_users"),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_console_users_account_id_accounts", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("username", name="uq_console_users_username"),
    )
    op.create_table(
        "console_sessions",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("token_hash", name="pk_console_sessions"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["console_users.id"], name="fk_console_sessions_user_id_console_users", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_console_sessions_user_id", "console_sessions", ["user_id"])
    op.create_table(
        "console_login_failures",
        sa.Column("id", _BIGINT_PK, autoincrement=True),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_console_login_failures"),
    )
    op.create_index("ix_console_login_failures_key", "console_login_failures", ["key", "at"])


def downgrade() -> None:
    op.drop_index("ix_console_login_failures_key", "console_login_failures")
    op.drop_table("console_login_failures")
    op.drop_index("ix_console_sessions_user_id", "console_sessions")
    op.drop_table("console_sessions")
    op.drop_table("console_users")
