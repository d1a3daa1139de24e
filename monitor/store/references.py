"""Reference profiles in SQL: numbered versions per model version, with the model's ``"*"``
reference as the fallback of every version.

>>> from monitor.reference import ReferenceProfile
>>> from monitor.store.db import Database
>>> db = Database("sqlite://"); db.upgrade()
>>> profile = ReferenceProfile.from_payload("m", "*", {"rows": 0, "columns": {}}, "test")
>>> save(db, profile).version, save(db, profile).version
(1, 2)
>>> get(db, "m", "v7").version  # no reference of v7's own: the model's "*"
2
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, select

from monitor.exceptions import StoreRejected
from monitor.reference import ReferenceProfile
from monitor.store import schema
from monitor.store.db import Database

__all__ = ["get", "listed", "save"]


def save(db: Database, profile: ReferenceProfile) -> ReferenceProfile:
    """Store ``profile`` as the next version for its model version; returns it numbered."""
    t = schema.references
    with db.tx() as conn:
        current = conn.execute(
            select(func.max(t.c.version)).where(
                t.c.model_id == profile.model_id, t.c.model_version == profile.model_version
            )
        ).scalar()
        version = (current or 0) + 1
        payload = profile.to_payload()
        conn.execute(
            t.insert().values(
                model_id=profile.model_id,
                model_version=profile.model_version,
                version=version,
                source=profile.source,
                rows=profile.rows,
                payload=payload,
            )
        )
    return ReferenceProfile.from_payload(
        profile.model_id, profile.model_version, payload, profile.source, version
    )


def get(
    db: Database,
    model_id: str,
    model_version: str,
    version: int | None = None,
    conn: Connection | None = None,
) -> ReferenceProfile | None:
    """The latest (or a given) reference of a model version, falling back to the model's
    ``"*"`` reference. Pass ``conn`` to read inside a transaction already open (a second
    SQLite transaction in the same process would wait for the first)."""
    t = schema.references
    for mv in (model_version, "*"):
        q = select(t).where(t.c.model_id == model_id, t.c.model_version == mv)
        if version is not None:
            q = q.where(t.c.version == version)
        try:
            with db.tx(conn) as tx:
                row = tx.execute(q.order_by(t.c.version.desc()).limit(1)).mappings().first()
        except StoreRejected:
            continue  # a version the database cannot even compare has no reference of its own
        if row is not None:
            return ReferenceProfile.from_payload(
                model_id, row["model_version"], row["payload"], row["source"], row["version"]
            )
    return None


def listed(db: Database, model_id: str | None = None) -> list[dict[str, Any]]:
    """Every stored reference (of ``model_id`` when given) without its payload, in order."""
    t = schema.references
    q = select(t.c.model_id, t.c.model_version, t.c.version, t.c.rows, t.c.source, t.c.created_at)
    if model_id:
        q = q.where(t.c.model_id == model_id)
    q = q.order_by(t.c.model_id, t.c.model_version, t.c.version)
    with db.tx() as conn:
        return [dict(r) for r in conn.execute(q).mappings().all()]
