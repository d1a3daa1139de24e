"""Reading alert state, history and silences for people (``monitor alerts``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from monitor.store import schema

__all__ = ["ACTIVE_STATES", "alert_history", "list_alerts"]

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
) -> list[dict[str, Any]]:
    """Transitions, oldest first (the last ``limit`` when given)."""
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
    q = q.order_by(t.c.window_end.desc(), t.c.id.desc())
    if limit is not None:
        q = q.limit(limit)
    return [dict(r) for r in reversed(conn.execute(q).mappings().all())]
