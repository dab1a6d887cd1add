"""Console sessions carry a one-time message (a new APIKEY or webhook secret shown once after a redirect).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("console_sessions") as b:
        b.add_column(sa.Column("flash_enc", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("console_sessions") as b:
        b.drop_column("flash_enc")
