"""idle sources: offsets.idle_since, for watermarks of partitions without traffic

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("offsets") as batch:
        batch.add_column(sa.Column("idle_since", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("offsets") as batch:
        batch.drop_column("idle_since")
