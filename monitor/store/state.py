"""Pipeline state in SQL: panes, per-source positions and watermarks, per-model frontiers and
late events, loaded at a start and reset on demand.

The functions that take a :class:`~sqlalchemy.Connection` are steps of the checkpoint and of
the closing across processes (:mod:`monitor.pipeline.closing`): they run inside the caller's one
transaction and never open their own, so the checkpoint stays one transaction whatever it
calls. Which steps run, and in which order, is the checkpoint's business
(:meth:`monitor.pipeline.checkpoint.Checkpointer.transaction`), not this module's.

>>> from monitor.store.db import Database
>>> db = Database("sqlite://"); db.upgrade()
>>> with db.tx() as conn:
...     write_panes(conn, "job", {("p0", "m", "v1", 7): b"sketch"}, set())
...     write_positions(conn, "job", {"p0": 42}, {"p0": 1000}, {})
...     write_frontiers(conn, "job", {"m": 6})
>>> state = load(db, "job")
>>> state.panes, state.offsets, state.watermarks, state.frontiers
({('p0', 'm', 'v1', 7): b'sketch'}, {'p0': 42}, {'p0': 1000}, {'m': 6})
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy import Connection, delete, select, tuple_

from monitor.engine import EngineState
from monitor.store import schema
from monitor.store.db import Database, upsert

__all__ = [
    "add_late",
    "claim_frontier",
    "drop_panes",
    "frontier",
    "load",
    "model_panes",
    "put_panes",
    "reset",
    "set_frontier",
    "source_marks",
    "write_frontiers",
    "write_panes",
    "write_positions",
]

PaneKey = tuple[str, str, str, int]  # (source, model id, model version, pane)
_DELETE_CHUNK = 500  # keys per DELETE ... IN: bounded statements on both databases


# -- checkpoint steps (inside the checkpoint's transaction) ----------------------------------
def write_panes(
    conn: Connection, job: str, panes: Mapping[PaneKey, bytes], deleted: set[PaneKey]
) -> None:
    """Upsert the pane sketches changed since the last checkpoint; delete the ``deleted``
    panes (whose windows all closed)."""
    upsert(
        conn,
        schema.panes,
        [
            {"job": job, "source": s, "model_id": m, "model_version": v, "pane": p, "sketch": blob}
            for (s, m, v, p), blob in panes.items()
        ],
    )
    t = schema.panes
    keys = list(deleted)
    for i in range(0, len(keys), _DELETE_CHUNK):
        in_chunk = tuple_(t.c.source, t.c.model_id, t.c.model_version, t.c.pane).in_(
            keys[i : i + _DELETE_CHUNK]
        )
        conn.execute(delete(t).where(t.c.job == job, in_chunk))


def add_late(conn: Connection, job: str, late: Mapping[tuple[str, str, int], int]) -> None:
    """Add late-event counts per (model id, model version, pane start)."""
    upsert(
        conn,
        schema.late_events,
        [
            {"job": job, "model_id": m, "model_version": v, "pane_start": p, "count": c}
            for (m, v, p), c in late.items()
        ],
        add=("count",),
    )


def write_positions(
    conn: Connection,
    job: str,
    offsets: Mapping[str, int],
    watermarks: Mapping[str, int],
    idle: Mapping[str, int | None],
) -> None:
    """Upsert each source's next offset, watermark and idle-since time."""
    upsert(
        conn,
        schema.offsets,
        [
            {
                "job": job,
                "source": s,
                "next_offset": offsets.get(s),
                "watermark": watermarks.get(s),
                "idle_since": idle.get(s),
            }
            for s in offsets.keys() | watermarks.keys() | idle.keys()
        ],
    )


def write_frontiers(conn: Connection, job: str, frontiers: Mapping[str, int]) -> None:
    """Upsert each model's frontier (last closed window end pane)."""
    rows = [{"job": job, "model_id": m, "pane": p} for m, p in frontiers.items()]
    upsert(conn, schema.frontiers, rows)


# -- shared closing (inside a checkpoint's transaction) --------------------------------------
def source_marks(conn: Connection, job: str) -> dict[str, tuple[int | None, int | None]]:
    """source -> (watermark, idle_since) of every source of ``job``."""
    o = schema.offsets
    rows = conn.execute(select(o.c.source, o.c.watermark, o.c.idle_since).where(o.c.job == job))
    return {r.source: (r.watermark, r.idle_since) for r in rows}


def frontier(conn: Connection, job: str, model_id: str) -> int | None:
    """The model's frontier (last closed window end pane), as last committed."""
    f = schema.frontiers
    return conn.execute(select(f.c.pane).where(f.c.job == job, f.c.model_id == model_id)).scalar()


def claim_frontier(conn: Connection, job: str, model_id: str) -> tuple[bool, int | None]:
    """Lock the model's frontier for this transaction: (True, the frontier), or (False, None)
    while another transaction holds it (PostgreSQL's SKIP LOCKED: it is closing the model's
    windows now). A model without a frontier yet has no row to lock: (True, None). SQLite
    locks the whole database at BEGIN already (:mod:`monitor.store.db`)."""
    f = schema.frontiers
    q = select(f.c.pane).where(f.c.job == job, f.c.model_id == model_id)
    if conn.dialect.name != "postgresql":
        return True, conn.execute(q).scalar()
    locked = conn.execute(q.with_for_update(skip_locked=True)).scalar()
    if locked is None and frontier(conn, job, model_id) is not None:
        return False, None
    return True, locked


def set_frontier(conn: Connection, job: str, model_id: str, pane: int) -> None:
    write_frontiers(conn, job, {model_id: pane})


def model_panes(
    conn: Connection, job: str, model_id: str, upto: int
) -> dict[tuple[str, str, int], bytes]:
    """(source, version, pane) -> sketch of every source of ``job`` for ``model_id`` up to
    pane ``upto``; the ``#previous`` pseudo-source included."""
    t = schema.panes
    q = select(t.c.source, t.c.model_version, t.c.pane, t.c.sketch).where(
        t.c.job == job, t.c.model_id == model_id, (t.c.pane <= upto) | t.c.source.startswith("#")
    )
    return {(r.source, r.model_version, r.pane): bytes(r.sketch) for r in conn.execute(q)}


def drop_panes(conn: Connection, job: str, model_id: str, below: int) -> None:
    """Delete the model's panes (all sources) with index <= ``below``."""
    t = schema.panes
    conn.execute(
        delete(t).where(
            t.c.job == job, t.c.model_id == model_id, t.c.pane <= below, ~t.c.source.startswith("#")
        )
    )


def put_panes(
    conn: Connection, job: str, model_id: str, panes: Mapping[tuple[str, str, int], bytes]
) -> None:
    """Upsert the model's panes, keyed (source, version, pane)."""
    write_panes(conn, job, {(s, model_id, v, p): b for (s, v, p), b in panes.items()}, set())


# -- load and reset (own transactions) -------------------------------------------------------
def load(db: Database, job: str, sources: Iterable[str] | None = None) -> EngineState:
    """The checkpointed state of ``job`` (only ``sources`` when given; the ``#`` pseudo-sources
    always)."""
    wanted = None if sources is None else set(sources)
    state = EngineState()
    with db.tx() as conn:
        t = schema.panes
        for r in conn.execute(select(t).where(t.c.job == job)).mappings():
            if wanted is None or r["source"] in wanted or r["source"].startswith("#"):
                key = (r["source"], r["model_id"], r["model_version"], r["pane"])
                state.panes[key] = bytes(r["sketch"])
        o = schema.offsets
        for r in conn.execute(select(o).where(o.c.job == job)).mappings():
            if wanted is None or r["source"] in wanted:
                if r["next_offset"] is not None:
                    state.offsets[r["source"]] = r["next_offset"]
                if r["watermark"] is not None:
                    state.watermarks[r["source"]] = r["watermark"]
                if r["idle_since"] is not None:
                    state.idle[r["source"]] = r["idle_since"]
        f = schema.frontiers
        for r in conn.execute(select(f).where(f.c.job == job)).mappings():
            state.frontiers[r["model_id"]] = r["pane"]
    return state


def reset(db: Database, job: str) -> None:
    """Forget the checkpointed state of ``job`` (windows already persisted stay)."""
    s = schema
    with db.tx() as conn:
        for t in (s.panes, s.offsets, s.frontiers, s.late_events, s.job_settings):
            conn.execute(delete(t).where(t.c.job == job))
