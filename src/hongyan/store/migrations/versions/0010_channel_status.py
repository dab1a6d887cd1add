"""Channel status heartbeats: each delivery process writes its channels' bound state and window use every few
seconds, so processes that do not run the channels (API-only, the console) can show and check them.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "channel_status",
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("node", sa.String(128), nullable=False),
        sa.Column("bound", sa.Boolean(), nullable=False),
        sa.Column("inflight", sa.Integer(), nullable=False),
        sa.Column("window", sa.Integer(), nullable=False),
        sa.Column("tps", sa.Float(), nullable=False),
        sa.Column("throttled", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("channel", "node", name="pk_channel_status"),
    )


def downgrade() -> None:
    op.drop_table("channel_status")
