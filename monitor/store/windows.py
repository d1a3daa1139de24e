"""Closed windows in SQL: the writer of window and summary rows (a checkpoint step) and the
queries that read them back, with the late events counted per pane.

:func:`write` runs inside the caller's transaction (the checkpoint's, or the closing's across
processes); the queries open their own. Rows are keyed by their natural key, so a replayed
window overwrites itself with the same values.

The queries are plain SQL run by a :class:`~monitor.store.reading.Reader` (a
:class:`~monitor.store.db.Database`, or a SQLite file read without SQLAlchemy), so this module
imports neither SQLAlchemy nor the engine until :func:`write` runs: ``monitor windows`` starts
without them.

>>> from monitor.store.db import Database
>>> db = Database("sqlite://"); db.upgrade()
>>> windows(db, "m"), summaries(db, "m"), late_counts(db, "m")
([], [], {})
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from monitor.engine import ClosedWindow
    from monitor.store.reading import Reader

__all__ = ["late_counts", "late_in", "summaries", "windows", "write"]


def write(conn: Connection, closed: list[ClosedWindow]) -> None:
    """Upsert the column rows and the summary of every window in ``closed`` and of its
    segments."""
    from monitor.store import schema
    from monitor.store.db import upsert

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
                    "statistics": c.statistics,
                    "quality": c.quality,
                    "previous": c.previous,
                    "drift": c.drift,
                    "severity": c.severity,
                    "baseline": w.dataset.baseline,
                    "reference_version": w.reference_version,
                    "decided_by": c.decided_by,
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
    db: Reader,
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
    where = _where(
        model_id=model_id,
        segment=segment,
        feature=feature or None,
        model_version=version or None,
        since=since_ms,
        until=until_ms,
    )
    rows = db.rows(
        f"SELECT * FROM windows WHERE {where} "
        "ORDER BY window_start, model_version, segment, feature",
        {"model_id": model_id, "segment": segment, "feature": feature, "model_version": version}
        | {"since": since_ms, "until": until_ms},
    )
    return _typed(rows, ("statistics", "quality", "previous", "decided_by"), ("drift", "baseline"))


def summaries(
    db: Reader, model_id: str, since_ms: int | None = None, segment: str | None = ""
) -> list[dict[str, Any]]:
    """Window summaries (dataset drift) of a model, oldest first; segments as in
    :func:`windows`."""
    where = _where(model_id=model_id, segment=segment, since=since_ms)
    rows = db.rows(
        f"SELECT * FROM window_summaries WHERE {where} "
        "ORDER BY window_start, model_version, segment",
        {"model_id": model_id, "segment": segment, "since": since_ms},
    )
    return _typed(rows, ("drifted_features",), ("prediction_drift", "baseline"))


def late_counts(db: Reader, model_id: str) -> dict[tuple[str, int], int]:
    """(version, pane start) -> late events, summed over jobs."""
    rows = db.rows(
        "SELECT model_version, pane_start, sum(count) AS count FROM late_events "
        "WHERE model_id = :model_id GROUP BY model_version, pane_start",
        {"model_id": model_id},
    )
    return {(r["model_version"], r["pane_start"]): int(r["count"]) for r in rows}


#: The filters of the queries above: parameter -> its condition; a filter given as None is off.
_CONDITIONS = {
    "model_id": "model_id = :model_id",
    "segment": "segment = :segment",
    "feature": "feature = :feature",
    "model_version": "model_version = :model_version",
    "since": "window_end > :since",
    "until": "window_start < :until",
}


def _where(**filters: object) -> str:
    """The WHERE clause of the filters that are on.

    >>> _where(model_id="m", segment=None, since=5)
    'model_id = :model_id AND window_end > :since'
    """
    return " AND ".join(_CONDITIONS[k] for k, v in filters.items() if v is not None)


def _typed(
    rows: list[dict[str, Any]], json_columns: Sequence[str], flags: Sequence[str]
) -> list[dict[str, Any]]:
    """``rows`` with their JSON columns decoded and their booleans as bools, whichever driver
    read them (SQLite gives JSON as text and booleans as 0/1; PostgreSQL's drivers decode both).
    No JSON column of these tables holds a bare string, so text is always undecoded JSON.

    >>> _typed([{"s": '{"psi": 0.1}', "d": 1, "p": None}], ("s", "p"), ("d",))
    [{'s': {'psi': 0.1}, 'd': True, 'p': None}]
    """
    for r in rows:
        for c in json_columns:
            if isinstance(r[c], str):
                r[c] = json.loads(r[c])
        for c in flags:
            r[c] = bool(r[c])
    return rows


def late_in(late: dict[tuple[str, int], int], version: str, start_ms: int, end_ms: int) -> int:
    """The late events of a window from :func:`late_counts`: those of its version's panes
    that start in [start_ms, end_ms) (every pane start is aligned, so no slide is needed).

    >>> late_in({("1", 0): 2, ("1", 60_000): 3, ("2", 0): 7}, "1", 0, 60_000)
    2
    """
    return sum(n for (v, p), n in late.items() if v == version and start_ms <= p < end_ms)
