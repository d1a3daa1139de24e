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
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    func,
)

from monitor.limits import (
    MAX_ID_CHARS,
    MAX_POPULATION_CHARS,
    MAX_SEGMENT_CHARS,
    MAX_SUBJECT_CHARS,
    MAX_VALUE_CHARS,
)

__all__ = [
    "alert_history",
    "alert_silences",
    "alerts",
    "concept_drift_events",
    "drift_detectors",
    "frontiers",
    "job_settings",
    "join_records",
    "late_events",
    "metadata",
    "offsets",
    "outbox",
    "panes",
    "performance_panes",
    "performance_windows",
    "references",
    "retrain_triggers",
    "window_summaries",
    "windows",
]

metadata = MetaData()

references = Table(
    "reference_profiles",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model_id", String(MAX_ID_CHARS), nullable=False),
    Column(
        "model_version", String(MAX_ID_CHARS), nullable=False
    ),  # "*" applies to versions without their own
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
    Column("model_id", String(MAX_ID_CHARS), primary_key=True),
    Column("model_version", String(MAX_POPULATION_CHARS), primary_key=True),  # a population key
    Column("pane", BigInteger, primary_key=True),
    Column("sketch", LargeBinary, nullable=False),
)

windows = Table(
    "windows",
    metadata,
    Column("model_id", String(MAX_ID_CHARS), primary_key=True),
    Column("model_version", String(MAX_ID_CHARS), primary_key=True),
    Column(
        "segment", String(MAX_SEGMENT_CHARS), primary_key=True, server_default=""
    ),  # "key=value"; "" the whole version
    Column("feature", String(MAX_ID_CHARS), primary_key=True),
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
    # {statistic, value, threshold, severity}: what set ``severity`` (monitor.drift.decide);
    # null on windows written before migration 0010
    Column("decided_by", JSON, nullable=True),
)

window_summaries = Table(
    "window_summaries",
    metadata,
    Column("model_id", String(MAX_ID_CHARS), primary_key=True),
    Column("model_version", String(MAX_ID_CHARS), primary_key=True),
    Column(
        "segment", String(MAX_SEGMENT_CHARS), primary_key=True, server_default=""
    ),  # "key=value"; "" the whole version
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
    Column("model_id", String(MAX_ID_CHARS), primary_key=True),
    Column("pane", BigInteger, nullable=False),
)

# What a job's state was built under (window geometry per model, a replay's input files): a
# restart or a resumed replay with other settings is refused instead of silently misreading it.
job_settings = Table(
    "job_settings",
    metadata,
    Column("job", String(200), primary_key=True),
    Column("key", String(300), primary_key=True),  # "model:<model_id>" or "replay:input"
    Column("value", JSON, nullable=False),
)

late_events = Table(
    "late_events",
    metadata,
    Column("job", String(200), primary_key=True),
    Column("model_id", String(MAX_ID_CHARS), primary_key=True),
    Column("model_version", String(MAX_ID_CHARS), primary_key=True),
    Column("pane_start", BigInteger, primary_key=True),
    Column("count", BigInteger, nullable=False),
)


# -- labels and performance (the label join) -------------------------------------------------------
join_records = Table(
    "join_records",
    metadata,
    Column("job", String(200), primary_key=True),
    Column("join_key", String(100), primary_key=True),  # the partition number both topics share
    Column("prediction_id", String(MAX_ID_CHARS), primary_key=True),
    Column("model_id", String(MAX_ID_CHARS), nullable=False),
    Column(
        "model_version", String(MAX_ID_CHARS), nullable=True
    ),  # None: a label still waiting for its prediction
    Column("ts", BigInteger, nullable=True),  # the prediction's event time
    Column("prediction", String(MAX_VALUE_CHARS), nullable=True),
    Column("score", Float, nullable=True),
    Column("segments", JSON, nullable=True),
    Column("label", String(MAX_VALUE_CHARS), nullable=True),
    Column("label_ts", BigInteger, nullable=True),
    Index("ix_join_records_ts", "job", "model_id", "ts"),
)

performance_panes = Table(
    "performance_panes",
    metadata,
    Column("job", String(200), primary_key=True),
    Column("join_key", String(100), primary_key=True),
    Column("model_id", String(MAX_ID_CHARS), primary_key=True),
    Column("model_version", String(MAX_ID_CHARS), primary_key=True),
    Column("pane", BigInteger, primary_key=True),
    Column("state", LargeBinary, nullable=False),
)

performance_windows = Table(
    "performance_windows",
    metadata,
    Column("model_id", String(MAX_ID_CHARS), primary_key=True),
    Column("model_version", String(MAX_ID_CHARS), primary_key=True),
    Column("window_start", BigInteger, primary_key=True),
    Column("window_end", BigInteger, primary_key=True),
    Column("predictions", BigInteger, nullable=False),
    Column("labeled", BigInteger, nullable=False),
    Column("metrics", JSON, nullable=False),
    Column("estimated", JSON, nullable=True),
    Column("segments", JSON, nullable=True),
    Column("label_delay", JSON, nullable=True),
    Column("final", Boolean, nullable=False),
)

# One concept-drift detector per partition (join key) and model version (migration 0011).
drift_detectors = Table(
    "drift_detectors",
    metadata,
    Column("job", String(200), primary_key=True),
    Column("join_key", String(100), primary_key=True),
    Column("model_id", String(MAX_ID_CHARS), primary_key=True),
    Column("model_version", String(MAX_ID_CHARS), primary_key=True),
    Column("seen", BigInteger, nullable=False),  # errors fed so far: the next one's position
    Column("state", LargeBinary, nullable=False),
)

concept_drift_events = Table(
    "concept_drift_events",
    metadata,
    Column("model_id", String(MAX_ID_CHARS), primary_key=True),
    Column("model_version", String(MAX_ID_CHARS), primary_key=True),
    Column("method", String(50), primary_key=True),
    Column("detected_at", BigInteger, primary_key=True),  # event time of the label that tipped it
    Column("position", BigInteger, nullable=False),
)


# -- alerts (monitor.alerts; migration 0004) ------------------------------------------------------
# One row per alert instance: a rule of a model version on one subject (a feature, or "" for a
# rule on the model as a whole). ``last_window_end`` is the idempotence guard: a window that ends
# at or before it was already evaluated for this alert and is skipped.
alerts = Table(
    "alerts",
    metadata,
    Column("rule", String(100), primary_key=True),
    Column("model_id", String(MAX_ID_CHARS), primary_key=True),
    Column("model_version", String(MAX_ID_CHARS), primary_key=True),
    Column("subject", String(MAX_SUBJECT_CHARS), primary_key=True),
    Column("kind", String(40), nullable=False),
    Column("state", String(10), nullable=False),  # inactive | pending | firing | resolved
    Column("severity", String(10), nullable=False),  # ok | warning | critical
    Column("value", Float, nullable=True),
    Column("threshold", Float, nullable=True),
    Column("breaches", Integer, nullable=False),  # consecutive breaching windows
    Column("clears", Integer, nullable=False),  # consecutive normal windows while firing
    Column("since_end", BigInteger, nullable=True),  # window end when the current state began
    Column("last_window_end", BigInteger, nullable=False),
    Column("notified_state", String(10), nullable=True),
    Column("notified_severity", String(10), nullable=True),
    Column("notified_at", BigInteger, nullable=True),  # event time (wall clock for pipeline health)
    Column("notified_sinks", JSON, nullable=True),
    Column("details", JSON, nullable=True),
    Column("updated_ms", BigInteger, nullable=False),
)

alert_history = Table(
    "alert_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("rule", String(100), nullable=False),
    Column("model_id", String(MAX_ID_CHARS), nullable=False),
    Column("model_version", String(MAX_ID_CHARS), nullable=False),
    Column("subject", String(MAX_SUBJECT_CHARS), nullable=False),
    Column("window_start", BigInteger, nullable=False),
    Column("window_end", BigInteger, nullable=False),
    Column("from_state", String(10), nullable=False),
    Column("to_state", String(10), nullable=False),
    Column("severity", String(10), nullable=False),
    Column("value", Float, nullable=True),
    Column("threshold", Float, nullable=True),
    Column("inhibited", Boolean, nullable=False),
    Column("at_ms", BigInteger, nullable=False),
    Column("details", JSON, nullable=True),
    UniqueConstraint(
        "rule",
        "model_id",
        "model_version",
        "subject",
        "window_end",
        "to_state",
        "severity",
        name="uq_alert_history_transition",
    ),
)

# The transactional outbox: written in the transaction that changed alert state, delivered by
# the dispatcher. ``key`` is the idempotency key receivers see; inserting it twice does nothing.
outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(64), nullable=False),
    Column("sink", String(200), nullable=False),
    Column("kind", String(20), nullable=False),  # alert | test
    Column("model_id", String(MAX_ID_CHARS), nullable=False),
    Column("model_version", String(MAX_ID_CHARS), nullable=False),
    Column("window_end", BigInteger, nullable=True),
    # pending | sending | delivered | dead | silenced | rate_limited
    Column("status", String(20), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_ms", BigInteger, nullable=False),
    Column("lease_until_ms", BigInteger, nullable=True),
    Column("claim_token", String(40), nullable=True),
    Column("created_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    Column("delivered_ms", BigInteger, nullable=True),
    Column("last_error", String(1000), nullable=True),
    Column("payload", JSON, nullable=False),
    UniqueConstraint("key", name="uq_outbox_key"),
    Index("ix_outbox_due", "status", "next_attempt_ms"),
)

alert_silences = Table(
    "alert_silences",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model_id", String(MAX_ID_CHARS), nullable=False),
    Column("rule", String(100), nullable=True),  # None: every rule of the model
    Column("created_ms", BigInteger, nullable=False),
    Column("expires_ms", BigInteger, nullable=False),
    Column("comment", String(1000), nullable=True),
)

# The last retrain trigger per CI sink and model (the per-model rate limit).
retrain_triggers = Table(
    "retrain_triggers",
    metadata,
    Column("sink", String(200), primary_key=True),
    Column("model_id", String(MAX_ID_CHARS), primary_key=True),
    Column("last_ms", BigInteger, nullable=False),
    Column("key", String(64), nullable=False),
)
