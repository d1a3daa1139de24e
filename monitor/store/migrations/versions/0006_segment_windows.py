"""segments: windows and window summaries per segment ("" is the whole model version)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""

import warnings
from collections.abc import Callable

import sqlalchemy as sa
from alembic import op
from alembic.operations import BatchOperations

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

KEYS = {
    "windows": ["model_id", "model_version", "segment", "feature", "window_start", "window_end"],
    "window_summaries": ["model_id", "model_version", "segment", "window_start", "window_end"],
}


def _rebuild(table: str, key: list[str], change: Callable[[BatchOperations], None]) -> None:
    # Recreated (SQLite cannot alter a primary key in place; PostgreSQL copies the rows).
    # SQLAlchemy warns that the reflected columns' primary-key flags differ from the new key:
    # replacing that key is the point.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Table '_alembic_tmp_", sa.exc.SAWarning)
        with op.batch_alter_table(table, recreate="always") as batch:
            change(batch)
            batch.create_primary_key(f"pk_{table}", key)


def upgrade() -> None:
    for table, key in KEYS.items():
        _rebuild(
            table,
            key,
            lambda batch: batch.add_column(
                sa.Column("segment", sa.String(400), nullable=False, server_default="")
            ),
        )


def downgrade() -> None:
    for table, key in KEYS.items():
        op.execute(sa.text(f"DELETE FROM {table} WHERE segment <> ''"))
        _rebuild(
            table, [k for k in key if k != "segment"], lambda batch: batch.drop_column("segment")
        )
