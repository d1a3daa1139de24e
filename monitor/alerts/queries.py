"""Reading alert state, history and silences for people (``monitor alerts``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from monitor.store import schema

__all__ = ["ACTIVE_STATES", "alert_history", "alert_spans", "list_alerts"]

ACTIVE_STATES = ("pending", "firing")


def list_alerts(
    conn: Connection,
    *,
    model_id: str | None = None,
    rule: str | None = None,
    subject: str | None = None,
    version: str | None = None,
    states: tuple[str, ...] | None = ACTIVE_STATES,
) -> list[dict[str, Any]]:
    t = schema.alerts
    q = select(t)
    for column, value in (
        (t.c.model_id, model_id),
        (t.c.rule, rule),
        (t.c.subject, subject),
        (t.c.model_version, version),
    ):
        if value is not None:
            q = q.where(column == value)
    if states:
        q = q.where(t.c.state.in_(states))
    q = q.order_by(t.c.model_id, t.c.model_version, t.c.rule, t.c.subject)
    return [dict(r) for r in conn.execute(q).mappings()]


def alert_history(
    conn: Connection,
    *,
    model_id: str | None = None,
    rule: str | None = None,
    subject: str | None = None,
    version: str | None = None,
    limit: int | None = None,
    since_ms: int | None = None,
    until_ms: int | None = None,
) -> list[dict[str, Any]]:
    """Transitions, oldest first (the last ``limit`` when given); those of windows ending
    after ``since_ms`` and starting before ``until_ms`` when given."""
    t = schema.alert_history
    q = select(t)
    for column, value in (
        (t.c.model_id, model_id),
        (t.c.rule, rule),
        (t.c.subject, subject),
        (t.c.model_version, version),
    ):
        if value is not None:
            q = q.where(column == value)
    if since_ms is not None:
        q = q.where(t.c.window_end > since_ms)
    if until_ms is not None:
        q = q.where(t.c.window_start < until_ms)
    q = q.order_by(t.c.window_end.desc(), t.c.id.desc())
    if limit is not None:
        q = q.limit(limit)
    return [dict(r) for r in reversed(conn.execute(q).mappings().all())]


def alert_spans(conn: Connection, model_id: str) -> list[dict[str, Any]]:
    """When each alert of a model fired, oldest first, from its recorded transitions: rows
    ``{rule, severity, model_version, feature, started_ms, resolved_ms}`` in event time (the
    end of the window that fired it and of the one that resolved it; ``resolved_ms`` None while
    it fires). ``severity`` is the worst it reached; ``feature`` is the alert's subject.

    >>> from monitor.store import Store
    >>> store = Store("sqlite://"); store.upgrade()
    >>> with store.tx() as conn:
    ...     alert_spans(conn, "m")
    []
    """
    open_: dict[tuple[str, str, str], dict[str, Any]] = {}
    spans: list[dict[str, Any]] = []
    for row in alert_history(conn, model_id=model_id):
        key = (row["rule"], row["model_version"], row["subject"])
        span = open_.get(key)
        if row["to_state"] == "resolved" and span is not None:
            span["resolved_ms"] = row["window_end"]
            del open_[key]
        elif row["to_state"] in ("firing", "escalated", "deescalated"):
            if span is None:
                span = {
                    "rule": row["rule"],
                    "severity": row["severity"],
                    "model_version": row["model_version"],
                    "feature": row["subject"],
                    "started_ms": row["window_end"],
                    "resolved_ms": None,
                }
                open_[key] = span
                spans.append(span)
            elif _RANK.get(row["severity"], 0) > _RANK.get(span["severity"], 0):
                span["severity"] = row["severity"]
    return sorted(spans, key=lambda s: (s["started_ms"], s["rule"], s["feature"]))


_RANK = {"ok": 0, "warning": 1, "critical": 2}
