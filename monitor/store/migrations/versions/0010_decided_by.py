"""decided_by: each window row names the verdict that set its severity

``{statistic, value, threshold, severity}`` (see monitor.drift.decide), so a reader sees why a
column is critical (Wasserstein 0.44 >= 0.4) and not only which way (issue 12). Rows written
before this revision keep null.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("windows") as batch:
        batch.add_column(sa.Column("decided_by", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("windows") as batch:
        batch.drop_column("decided_by")
