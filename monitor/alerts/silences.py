"""Silences: a model (optionally one rule) muted until a time. Silenced alerts still change
state and are recorded; their notifications are written to the outbox as ``silenced`` and
never sent."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, insert, select

from monitor.store import schema

__all__ = ["Silence", "active_silences", "add_silence", "remove_silence", "silenced"]


@dataclass(frozen=True)
class Silence:
    id: int
    model_id: str
    rule: str | None
    created_ms: int
    expires_ms: int
    comment: str | None = None

    def matches(self, model_id: str, rule: str) -> bool:
        return self.model_id == model_id and (self.rule is None or self.rule == rule)


def add_silence(
    conn: Connection,
    model_id: str,
    rule: str | None,
    now_ms: int,
    duration_ms: int,
    comment: str | None = None,
) -> Silence:
    t = schema.alert_silences
    values: dict[str, Any] = {
        "model_id": model_id,
        "rule": rule,
        "created_ms": now_ms,
        "expires_ms": now_ms + duration_ms,
        "comment": comment,
    }
    key = conn.execute(insert(t).values(**values)).inserted_primary_key
    assert key is not None  # an INSERT of one row
    return Silence(int(key[0]), model_id, rule, now_ms, now_ms + duration_ms, comment)


def remove_silence(conn: Connection, silence_id: int) -> bool:
    t = schema.alert_silences
    return conn.execute(delete(t).where(t.c.id == silence_id)).rowcount > 0


def active_silences(conn: Connection, now_ms: int, model_id: str | None = None) -> list[Silence]:
    t = schema.alert_silences
    q = select(t).where(t.c.expires_ms > now_ms, t.c.created_ms <= now_ms)
    if model_id is not None:
        q = q.where(t.c.model_id == model_id)
    rows = conn.execute(q.order_by(t.c.id)).mappings()
    return [
        Silence(r["id"], r["model_id"], r["rule"], r["created_ms"], r["expires_ms"], r["comment"])
        for r in rows
    ]


def silenced(silences: list[Silence], model_id: str, rule: str) -> bool:
    return any(s.matches(model_id, rule) for s in silences)
