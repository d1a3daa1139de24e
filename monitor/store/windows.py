"""Closed windows in SQL: the writer of window and summary rows (a checkpoint step) and the
queries that read them back, with the late events counted per pane.

:func:`write` runs inside the caller's transaction (the checkpoint's, or the closing's across
processes); the queries open their own. Rows are keyed by their natural key, so a replayed
window overwrites itself with the same values.

>>> from monitor.store.db import Database
>>> db = Database("sqlite://"); db.upgrade()
>>> windows(db, "m"), summaries(db, "m"), late_counts(db, "m")
([], [], {})
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, func, select

from monitor.jsonsafe import json_safe
from monitor.store import schema
from monitor.store.db import Database, upsert

if TYPE_CHECKING:  # the queries load without the engine (monitor windows starts faster)
    from monitor.engine import ClosedWindow

__all__ = ["late_counts", "late_in", "summaries", "windows", "write"]


def write(conn: Connection, closed: list[ClosedWindow]) -> None:
    """Upsert the column rows and the summary of every window in ``closed`` and of its
    segments."""
    rows, summaries = [], []
    for w in (x for parent in closed for x in (parent, *parent.segments)):
        key = {
            "model_id": w.model_id,
            "model_version": w.model_version,
            "segment": w.segment,
            "window_start": w.start_ms,
            "window_end": w.end_ms,
        }
        for c in w.columns:
            rows.append(
                {
                    **key,
                    "feature": c.feature,
                    "kind": c.kind,
                    "count": c.count,
                    "missing": c.missing,
                    "statistics": json_safe(c.statistics),
                    "quality": json_safe(c.quality),
                    "previous": json_safe(c.previous),
                    "drift": c.drift,
                    "severity": c.severity,
                    "baseline": w.dataset.baseline,
                    "reference_version": w.reference_version,
                    "decided_by": json_safe(c.decided_by),
                }
            )
        d = w.dataset
        summaries.append(
            {
                **key,
                "events": d.events,
                "predictions": d.predictions,
                "features": d.features,
                "drifted": d.drifted,
                "drifted_share": d.drifted_share,
                "drifted_features": list(d.drifted_features),
                "prediction_drift": d.prediction_drift,
                "severity": d.severity,
                "baseline": d.baseline,
                "reference_version": w.reference_version,
            }
        )
    upsert(conn, schema.windows, rows)
    upsert(conn, schema.window_summaries, summaries)


def windows(
    db: Database,
    model_id: str,
    feature: str | None = None,
    since_ms: int | None = None,
    version: str | None = None,
    segment: str | None = "",
    until_ms: int | None = None,
) -> list[dict[str, Any]]:
    """Persisted windows of a model, oldest first, as the ``monitor windows`` JSON contract:
    of the whole population by default, of one segment ("key=value"), or all (None); those
    ending after ``since_ms`` and starting before ``until_ms`` when given."""
    t = schema.windows
    q = select(t).where(t.c.model_id == model_id)
    if segment is not None:
        q = q.where(t.c.segment == segment)
    if feature:
        q = q.where(t.c.feature == feature)
    if since_ms is not None:
        q = q.where(t.c.window_end > since_ms)
    if until_ms is not None:
        q = q.where(t.c.window_start < until_ms)
    if version:
        q = q.where(t.c.model_version == version)
    q = q.order_by(t.c.window_start, t.c.model_version, t.c.segment, t.c.feature)
    with db.tx() as conn:
        return [dict(r) for r in conn.execute(q).mappings().all()]


def summaries(
    db: Database, model_id: str, since_ms: int | None = None, segment: str | None = ""
) -> list[dict[str, Any]]:
    """Window summaries (dataset drift) of a model, oldest first; segments as in
    :func:`windows`."""
    t = schema.window_summaries
    q = select(t).where(t.c.model_id == model_id)
    if segment is not None:
        q = q.where(t.c.segment == segment)
    if since_ms is not None:
        q = q.where(t.c.window_end > since_ms)
    q = q.order_by(t.c.window_start, t.c.model_version, t.c.segment)
    with db.tx() as conn:
        return [dict(r) for r in conn.execute(q).mappings().all()]


def late_counts(db: Database, model_id: str) -> dict[tuple[str, int], int]:
    """(version, pane start) -> late events, summed over jobs."""
    t = schema.late_events
    q = (
        select(t.c.model_version, t.c.pane_start, func.sum(t.c.count).label("count"))
        .where(t.c.model_id == model_id)
        .group_by(t.c.model_version, t.c.pane_start)
    )
    with db.tx() as conn:
        rows = conn.execute(q).mappings().all()
    return {(r["model_version"], r["pane_start"]): int(r["count"]) for r in rows}


def late_in(late: dict[tuple[str, int], int], version: str, start_ms: int, end_ms: int) -> int:
    """The late events of a window from :func:`late_counts`: those of its version's panes
    that start in [start_ms, end_ms) (every pane start is aligned, so no slide is needed).

    >>> late_in({("1", 0): 2, ("1", 60_000): 3, ("2", 0): 7}, "1", 0, 60_000)
    2
    """
    return sum(n for (v, p), n in late.items() if v == version and start_ms <= p < end_ms)
