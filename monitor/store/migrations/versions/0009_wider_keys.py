"""wider keys: panes hold population keys (version + segment), alerts subjects "key=value/feature"

A model version of 200 characters with a monitored segment overflowed ``panes.model_version``
(VARCHAR(200)) on PostgreSQL; so could a segment rule's subject ``alerts.subject``.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# The sizes at this revision (monitor.limits may change later; a migration must not).
POPULATION, SUBJECT = 601, 601
WIDENED = (
    ("panes", "model_version", 200, POPULATION),
    ("alerts", "subject", 200, SUBJECT),
    ("alert_history", "subject", 200, SUBJECT),
)


def _resize(to_new: bool) -> None:
    for table, column, old, new in WIDENED:
        with op.batch_alter_table(table) as batch:
            batch.alter_column(
                column,
                existing_type=sa.String(old if to_new else new),
                type_=sa.String(new if to_new else old),
                existing_nullable=False,
            )


def upgrade() -> None:
    _resize(True)


def downgrade() -> None:
    _resize(False)
