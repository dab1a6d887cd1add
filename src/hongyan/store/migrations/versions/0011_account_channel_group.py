"""Per-account channel group: an account's messages route among the channels of its group (NULL: "default").

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("accounts") as b:
        b.add_column(sa.Column("channel_group", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("accounts") as b:
        b.drop_column("channel_group")
