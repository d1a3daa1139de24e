"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-26 01:19:19.275522
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "frontiers",
        sa.Column("job", sa.String(length=200), nullable=False),
        sa.Column("model_id", sa.String(length=200), nullable=False),
        sa.Column("pane", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("job", "model_id"),
    )
    op.create_table(
        "late_events",
        sa.Column("model_id", sa.String(length=200), nullable=False),
        sa.Column("model_version", sa.String(length=200), nullable=False),
        sa.Column("pane_start", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("model_id", "model_version", "pane_start"),
    )
    op.create_table(
        "offsets",
        sa.Column("job", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=300), nullable=False),
        sa.Column("next_offset", sa.BigInteger(), nullable=True),
        sa.Column("watermark", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("job", "source"),
    )
    op.create_table(
        "panes",
        sa.Column("job", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=300), nullable=False),
        sa.Column("model_id", sa.String(length=200), nullable=False),
        sa.Column("model_version", sa.String(length=200), nullable=False),
        sa.Column("pane", sa.BigInteger(), nullable=False),
        sa.Column("sketch", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("job", "source", "model_id", "model_version", "pane"),
    )
    op.create_table(
        "reference_profiles",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("model_id", sa.String(length=200), nullable=False),
        sa.Column("model_version", sa.String(length=200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=1000), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("model_id", "model_version", "version", name="uq_reference_version"),
    )
    op.create_table(
        "window_summaries",
        sa.Column("model_id", sa.String(length=200), nullable=False),
        sa.Column("model_version", sa.String(length=200), nullable=False),
        sa.Column("window_start", sa.BigInteger(), nullable=False),
        sa.Column("window_end", sa.BigInteger(), nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.Column("predictions", sa.BigInteger(), nullable=False),
        sa.Column("features", sa.Integer(), nullable=False),
        sa.Column("drifted", sa.Integer(), nullable=False),
        sa.Column("drifted_share", sa.Float(), nullable=False),
        sa.Column("drifted_features", sa.JSON(), nullable=False),
        sa.Column("prediction_drift", sa.Boolean(), nullable=False),
        sa.Column("severity", sa.String(length=10), nullable=False),
        sa.Column("baseline", sa.Boolean(), nullable=False),
        sa.Column("reference_version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("model_id", "model_version", "window_start", "window_end"),
    )
    op.create_table(
        "windows",
        sa.Column("model_id", sa.String(length=200), nullable=False),
        sa.Column("model_version", sa.String(length=200), nullable=False),
        sa.Column("feature", sa.String(length=200), nullable=False),
        sa.Column("window_start", sa.BigInteger(), nullable=False),
        sa.Column("window_end", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("missing", sa.BigInteger(), nullable=False),
        sa.Column("statistics", sa.JSON(), nullable=False),
        sa.Column("quality", sa.JSON(), nullable=False),
        sa.Column("previous", sa.JSON(), nullable=True),
        sa.Column("drift", sa.Boolean(), nullable=False),
        sa.Column("severity", sa.String(length=10), nullable=False),
        sa.Column("baseline", sa.Boolean(), nullable=False),
        sa.Column("reference_version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "model_id", "model_version", "feature", "window_start", "window_end"
        ),
    )


def downgrade() -> None:
    op.drop_table("windows")
    op.drop_table("window_summaries")
    op.drop_table("reference_profiles")
    op.drop_table("panes")
    op.drop_table("offsets")
    op.drop_table("late_events")
    op.drop_table("frontiers")
