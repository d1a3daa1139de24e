"""The outbox table: notifications written in the transaction that changed alert state, then
claimed, delivered and settled by the dispatcher.

Row lifecycle (``status``)::

    pending --claim--> sending --2xx--> delivered
       ^                  |
       +---retry later----+--permanent error or max attempts--> dead (last_error says why)
    silenced, rate_limited: recorded, never sent

A claim is an ``UPDATE ... WHERE status = 'pending' AND next_attempt_ms <= now`` (or a claim
whose lease ran out: its dispatcher died mid-send), stamped with a fresh token, so two
dispatchers, in one process or many, never both own a row; every settling update checks the
token. A dispatcher that dies after sending and before settling leaves a claim whose lease runs
out and the row is sent again: delivery is at least once, and the idempotency key lets
receivers drop the duplicate.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Connection, and_, or_, select, update

from monitor.alerts.notify import Notification
from monitor.store import Store, schema
from monitor.store.db import dialect_insert

__all__ = [
    "STATUSES",
    "claim_due",
    "insert_notification",
    "outbox_rows",
    "settle_dead",
    "settle_delivered",
    "settle_retry",
]

STATUSES = ("pending", "sending", "delivered", "dead", "silenced", "rate_limited")


def insert_notification(conn: Connection, dialect: str, n: Notification, now_ms: int) -> bool:
    """Insert ``n`` unless its key is already there; True when inserted."""
    t = schema.outbox
    ins = dialect_insert(dialect, t)
    row = {
        "key": n.key,
        "sink": n.sink,
        "kind": n.kind,
        "model_id": n.model_id,
        "model_version": n.model_version,
        "window_end": n.window_end,
        "status": n.status,
        "attempts": 0,
        "next_attempt_ms": now_ms,
        "created_ms": now_ms,
        "updated_ms": now_ms,
        "payload": n.payload,
    }
    result = conn.execute(ins.values(**row).on_conflict_do_nothing(index_elements=["key"]))
    return result.rowcount == 1


def _due(now_ms: int) -> Any:
    t = schema.outbox
    return or_(
        and_(t.c.status == "pending", t.c.next_attempt_ms <= now_ms),
        and_(t.c.status == "sending", t.c.lease_until_ms <= now_ms),
    )


def claim_due(store: Store, now_ms: int, batch: int, lease_ms: int) -> list[dict[str, Any]]:
    """Claim up to ``batch`` due rows (oldest first) for ``lease_ms``; returns them, each with
    its ``claim_token`` and ``attempts`` already counting this attempt."""
    t = schema.outbox
    token = uuid.uuid4().hex
    with store.tx() as conn:
        ids = list(
            conn.execute(
                select(t.c.id)
                .where(_due(now_ms))
                .order_by(t.c.next_attempt_ms, t.c.id)
                .limit(batch)
            ).scalars()
        )
        if not ids:
            return []
        conn.execute(
            update(t)
            .where(t.c.id.in_(ids), _due(now_ms))
            .values(
                status="sending",
                claim_token=token,
                lease_until_ms=now_ms + lease_ms,
                attempts=t.c.attempts + 1,
                updated_ms=now_ms,
            )
        )
        rows = (
            conn.execute(
                select(t).where(t.c.claim_token == token).order_by(t.c.next_attempt_ms, t.c.id)
            )
            .mappings()
            .all()
        )
    return [dict(r) for r in rows]


def _settle(store: Store, row: dict[str, Any], **values: Any) -> bool:
    t = schema.outbox
    with store.tx() as conn:
        result = conn.execute(
            update(t)
            .where(
                t.c.id == row["id"], t.c.claim_token == row["claim_token"], t.c.status == "sending"
            )
            .values(claim_token=None, lease_until_ms=None, **values)
        )
    return result.rowcount == 1


def settle_delivered(store: Store, row: dict[str, Any], now_ms: int) -> bool:
    return _settle(
        store, row, status="delivered", delivered_ms=now_ms, updated_ms=now_ms, last_error=None
    )


def settle_retry(
    store: Store, row: dict[str, Any], now_ms: int, next_attempt_ms: int, reason: str
) -> bool:
    return _settle(
        store,
        row,
        status="pending",
        next_attempt_ms=next_attempt_ms,
        updated_ms=now_ms,
        last_error=reason[:1000],
    )


def settle_dead(store: Store, row: dict[str, Any], now_ms: int, reason: str) -> bool:
    return _settle(store, row, status="dead", updated_ms=now_ms, last_error=reason[:1000])


def outbox_rows(
    conn: Connection,
    *,
    model_id: str | None = None,
    status: str | None = None,
    key: str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Outbox rows, newest first."""
    t = schema.outbox
    q = select(t)
    if model_id is not None:
        q = q.where(t.c.model_id == model_id)
    if status is not None:
        q = q.where(t.c.status == status)
    if key is not None:
        q = q.where(t.c.key == key)
    return [dict(r) for r in conn.execute(q.order_by(t.c.id.desc()).limit(limit)).mappings()]
