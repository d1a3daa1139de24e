"""labels: join records, performance panes and windows, concept drift events

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "join_records",
        sa.Column("job", sa.String(200), nullable=False),
        sa.Column("join_key", sa.String(100), nullable=False),
        sa.Column("prediction_id", sa.String(200), nullable=False),
        sa.Column("model_id", sa.String(200), nullable=False),
        sa.Column("model_version", sa.String(200), nullable=True),
        sa.Column("ts", sa.BigInteger(), nullable=True),
        sa.Column("prediction", sa.String(200), nullable=True),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("segments", sa.JSON(), nullable=True),
        sa.Column("label", sa.String(200), nullable=True),
        sa.Column("label_ts", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("job", "join_key", "prediction_id"),
    )
    # Expiry at the horizon scans by prediction time (labels still waiting have ts NULL).
    op.create_index("ix_join_records_ts", "join_records", ["job", "model_id", "ts"])
    op.create_table(
        "performance_panes",
        sa.Column("job", sa.String(200), nullable=False),
        sa.Column("join_key", sa.String(100), nullable=False),
        sa.Column("model_id", sa.String(200), nullable=False),
        sa.Column("model_version", sa.String(200), nullable=False),
        sa.Column("pane", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("job", "join_key", "model_id", "model_version", "pane"),
    )
    op.create_table(
        "performance_windows",
        sa.Column("model_id", sa.String(200), nullable=False),
        sa.Column("model_version", sa.String(200), nullable=False),
        sa.Column("window_start", sa.BigInteger(), nullable=False),
        sa.Column("window_end", sa.BigInteger(), nullable=False),
        sa.Column("predictions", sa.BigInteger(), nullable=False),
        sa.Column("labeled", sa.BigInteger(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("estimated", sa.JSON(), nullable=True),
        sa.Column("segments", sa.JSON(), nullable=True),
        sa.Column("label_delay", sa.JSON(), nullable=True),
        sa.Column("final", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("model_id", "model_version", "window_start", "window_end"),
    )
    op.create_table(
        "concept_drift_events",
        sa.Column("model_id", sa.String(200), nullable=False),
        sa.Column("model_version", sa.String(200), nullable=False),
        sa.Column("method", sa.String(50), nullable=False),
        sa.Column("detected_at", sa.BigInteger(), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("model_id", "model_version", "method", "detected_at"),
    )


def downgrade() -> None:
    for table in (
        "concept_drift_events",
        "performance_windows",
        "performance_panes",
        "join_records",
    ):
        op.drop_table(table)
