"""The SQL schema (SQLAlchemy Core). Alembic migrations in ``migrations/`` create it.

Every table that feeds on the stream has a natural key, so writes are upserts and replaying the
same events never double counts.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    func,
)

__all__ = ["metadata", "references", "panes", "windows", "window_summaries", "offsets", "frontiers", "late_events"]

metadata = MetaData()

references = Table(
    "reference_profiles",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model_id", String(200), nullable=False),
    Column("model_version", String(200), nullable=False),  # "*" applies to versions without their own
    Column("version", Integer, nullable=False),
    Column("source", String(1000), nullable=False, default=""),
    Column("rows", BigInteger, nullable=False),
    Column("payload", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("model_id", "model_version", "version", name="uq_reference_version"),
)

panes = Table(
    "panes",
    metadata,
    Column("job", String(200), primary_key=True),
    Column("source", String(300), primary_key=True),
    Column("model_id", String(200), primary_key=True),
    Column("model_version", String(200), primary_key=True),
    Column("pane", BigInteger, primary_key=True),
    Column("sketch", LargeBinary, nullable=False),
)

windows = Table(
    "windows",
    metadata,
    Column("model_id", String(200), primary_key=True),
    Column("model_version", String(200), primary_key=True),
    Column("feature", String(200), primary_key=True),
    Column("window_start", BigInteger, primary_key=True),
    Column("window_end", BigInteger, primary_key=True),
    Column("kind", String(20), nullable=False),
    Column("count", BigInteger, nullable=False),
    Column("missing", BigInteger, nullable=False),
    Column("statistics", JSON, nullable=False),
    Column("quality", JSON, nullable=False),
    Column("previous", JSON, nullable=True),
    Column("drift", Boolean, nullable=False),
    Column("severity", String(10), nullable=False),
    Column("baseline", Boolean, nullable=False),
    Column("reference_version", Integer, nullable=False),
)

window_summaries = Table(
    "window_summaries",
    metadata,
    Column("model_id", String(200), primary_key=True),
    Column("model_version", String(200), primary_key=True),
    Column("window_start", BigInteger, primary_key=True),
    Column("window_end", BigInteger, primary_key=True),
    Column("events", BigInteger, nullable=False),
    Column("predictions", BigInteger, nullable=False),
    Column("features", Integer, nullable=False),
    Column("drifted", Integer, nullable=False),
    Column("drifted_share", Float, nullable=False),
    Column("drifted_features", JSON, nullable=False),
    Column("prediction_drift", Boolean, nullable=False),
    Column("severity", String(10), nullable=False),
    Column("baseline", Boolean, nullable=False),
    Column("reference_version", Integer, nullable=False),
)

offsets = Table(
    "offsets",
    metadata,
    Column("job", String(200), primary_key=True),
    Column("source", String(300), primary_key=True),
    Column("next_offset", BigInteger, nullable=True),
    Column("watermark", BigInteger, nullable=True),
    # Wall-clock ms since when the source has been caught up with no new events (None: active).
    Column("idle_since", BigInteger, nullable=True),
)

frontiers = Table(
    "frontiers",
    metadata,
    Column("job", String(200), primary_key=True),
    Column("model_id", String(200), primary_key=True),
    Column("pane", BigInteger, nullable=False),
)

late_events = Table(
    "late_events",
    metadata,
    Column("job", String(200), primary_key=True),
    Column("model_id", String(200), primary_key=True),
    Column("model_version", String(200), primary_key=True),
    Column("pane_start", BigInteger, primary_key=True),
    Column("count", BigInteger, nullable=False),
)
