"""The SQL store: reference profiles, checkpoints (panes, positions, windows) and queries.

The checkpoint is the heart of the exactly-once effect. :meth:`Store.checkpoint` writes, in ONE
transaction, in this order:

1. pane sketches changed since the last checkpoint (upsert) and panes whose windows all closed
   (delete);
2. closed windows and their summaries (upsert on the natural key: a replayed window overwrites
   itself with the same values);
3. late-event counts (added);
4. per-source positions and watermarks, and per-model frontiers (upsert);
5. (Kafka) closing across processes, see :mod:`monitor.closing`;
6. hooks: the label join's records and performance panes and windows, concept-drift events;
   alert evaluation and its outbox.

A crash before the commit loses the whole delta, and the consumer re-reads from the positions of
the previous checkpoint, which rebuilds exactly the lost delta.

Every error of the database, whichever way it is raised (SQLAlchemy, a raw driver cursor, a
value the driver cannot send), leaves the store as a :class:`~monitor.exceptions.StoreError` that
says whether retrying can help (:mod:`monitor.store.errors`). :meth:`Store.rejection` writes a
delta and rolls it back, to find out which part of a refused checkpoint the database refuses
(:mod:`monitor.store.quarantine`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import (
    Connection,
    Engine,
    Table,
    create_engine,
    delete,
    event,
    func,
    select,
    text,
    tuple_,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from monitor.engine import ClosedWindow, EngineState
from monitor.exceptions import StoreError, StoreRejected
from monitor.reference import ReferenceProfile
from monitor.store import quarantine, schema
from monitor.store.errors import DRIVER_VALUE_ERRORS, store_error

__all__ = ["Store"]

_MIGRATIONS = Path(__file__).with_name("migrations")


def _json(value: Any) -> Any:
    """JSON-safe: NaN/inf become None (JSON has neither)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    return value


class Store:
    """SQL persistence. ``url`` is any SQLAlchemy URL; SQLite files get WAL mode.

    >>> store = Store("sqlite://")
    >>> store.upgrade()
    >>> store.windows("m")
    []
    """

    def __init__(self, url: str, engine: Engine | None = None) -> None:
        self.url = url
        kwargs: dict[str, Any] = {"future": True}
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"timeout": 30}
            if url in ("sqlite://", "sqlite:///:memory:"):
                from sqlalchemy.pool import StaticPool

                kwargs["poolclass"] = StaticPool
                kwargs["connect_args"]["check_same_thread"] = False
        else:
            kwargs["pool_pre_ping"] = True
        self.engine = engine or create_engine(url, **kwargs)
        self.dialect = self.engine.dialect.name
        if self.dialect == "sqlite":

            @event.listens_for(self.engine, "connect")
            def _pragmas(dbapi_conn: Any, _record: Any) -> None:
                dbapi_conn.isolation_level = None  # SQLAlchemy issues BEGIN itself (below)
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=NORMAL")
                cur.execute("PRAGMA cache_size=-65536")  # 64 MB: the join records' index stays in memory
                cur.close()

            @event.listens_for(self.engine, "begin")
            def _begin(conn: Any) -> None:
                # Take the write lock up front: two processes checkpointing at once then wait
                # for each other (busy timeout) instead of failing on a lock upgrade.
                conn.exec_driver_sql("BEGIN IMMEDIATE")

        @event.listens_for(self.engine, "handle_error")
        def _value_errors(ctx: Any) -> StoreError | None:
            # A value the driver cannot send (psycopg2: a NUL character; sqlite3: an integer past
            # 64 bits) raises a plain ValueError/OverflowError, which SQLAlchemy does not wrap.
            raised = ctx.original_exception
            if ctx.sqlalchemy_exception is None and isinstance(raised, DRIVER_VALUE_ERRORS):
                return store_error(raised, self.safe_url)
            return None

    # -- schema ------------------------------------------------------------------------------
    def upgrade(self, revision: str = "head") -> None:
        """Bring the schema to ``revision`` with Alembic."""
        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(_MIGRATIONS))
        try:
            with self.engine.begin() as conn:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, revision)
        except SQLAlchemyError as exc:
            raise StoreError(f"database migration failed on {self.safe_url}: {exc}") from exc

    @property
    def safe_url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    @contextmanager
    def _tx(self, conn: Connection | None = None, rollback: bool = False) -> Iterator[Connection]:
        """A transaction (committed, or rolled back with ``rollback``), or ``conn``'s own;
        database errors leave it as :class:`StoreError` subclasses."""
        if conn is not None:
            yield conn
            return
        try:
            with self.engine.connect() as own, own.begin() as tx:
                yield own
                if rollback:
                    tx.rollback()
        except SQLAlchemyError as exc:
            raise store_error(exc, self.safe_url) from exc

    @contextmanager
    def cursor(self, conn: Connection) -> Iterator[Any]:
        """A raw driver cursor in ``conn``'s transaction, for bulk writes SQLAlchemy would slow
        down; what the driver raises leaves it as a :class:`StoreError`, as from ``_tx``."""
        cursor = conn.connection.driver_connection.cursor()
        try:
            yield cursor
        except (self.engine.dialect.loaded_dbapi.Error, *DRIVER_VALUE_ERRORS) as exc:
            if self.engine.dialect.is_disconnect(exc, conn.connection.dbapi_connection, cursor):
                conn.invalidate()  # as SQLAlchemy does for its own statements: no rollback on it
            raise store_error(exc, self.safe_url) from exc
        finally:
            cursor.close()

    def ping(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except SQLAlchemyError:
            return False

    def _upsert(self, conn: Connection, table: Table, rows: Sequence[dict[str, Any]], add: Iterable[str] = ()) -> None:
        """Insert or update on the primary key; columns in ``add`` are incremented instead."""
        if not rows:
            return
        dialect = postgresql if self.dialect == "postgresql" else sqlite
        stmt = dialect.insert(table)
        keys = [c.name for c in table.primary_key.columns]
        add = set(add)
        updates = {
            c.name: (table.c[c.name] + stmt.excluded[c.name]) if c.name in add else stmt.excluded[c.name]
            for c in table.columns
            if c.name not in keys
        }
        conn.execute(stmt.on_conflict_do_update(index_elements=keys, set_=updates), list(rows))

    # -- references --------------------------------------------------------------------------
    def save_reference(self, profile: ReferenceProfile) -> ReferenceProfile:
        """Store ``profile`` as the next version for its model version; returns it numbered."""
        t = schema.references
        with self._tx() as conn:
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
        return ReferenceProfile.from_payload(profile.model_id, profile.model_version, payload, profile.source, version)

    def get_reference(
        self, model_id: str, model_version: str, version: int | None = None, conn: Connection | None = None
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
                with self._tx(conn) as tx:
                    row = tx.execute(q.order_by(t.c.version.desc()).limit(1)).mappings().first()
            except StoreRejected:
                continue  # a version the database cannot even compare has no reference of its own
            if row is not None:
                return ReferenceProfile.from_payload(
                    model_id, row["model_version"], row["payload"], row["source"], row["version"]
                )
        return None

    def list_references(self, model_id: str | None = None) -> list[dict[str, Any]]:
        t = schema.references
        q = select(t.c.model_id, t.c.model_version, t.c.version, t.c.rows, t.c.source, t.c.created_at)
        if model_id:
            q = q.where(t.c.model_id == model_id)
        with self._tx() as conn:
            rows = conn.execute(q.order_by(t.c.model_id, t.c.model_version, t.c.version)).mappings().all()
        return [dict(r) for r in rows]

    # -- checkpoint --------------------------------------------------------------------------
    def checkpoint(
        self,
        job: str,
        state: EngineState,
        close: Callable[[Connection], list[ClosedWindow]] | None = None,
        hooks: Sequence[Callable[[Connection, EngineState, list[ClosedWindow]], None]] = (),
    ) -> tuple[float, list[ClosedWindow]]:
        """Write ``state`` in one transaction (see the module docstring), then, in the same
        transaction, let ``close`` close the windows that every source's checkpointed
        watermark has passed (step 5), then run ``hooks`` (step 6: the label join's delta,
        alert evaluation and its outbox) with every window closed in this checkpoint.
        Returns (seconds taken, windows closed by ``close``)."""
        started = time.perf_counter()
        with self._tx() as conn:
            closed = self._write_checkpoint(conn, job, state, close, hooks)
        return time.perf_counter() - started, closed

    def rejection(
        self,
        job: str,
        state: EngineState,
        hooks: Sequence[Callable[[Connection, EngineState, list[ClosedWindow]], None]] = (),
    ) -> StoreRejected | None:
        """Why the database refuses ``state`` as a checkpoint (without the closing step), or
        None if it takes it: written in a transaction that is then rolled back. An unreachable
        database raises :class:`~monitor.exceptions.StoreUnavailable`."""
        try:
            with self._tx(rollback=True) as conn:
                self._write_checkpoint(conn, job, state, None, hooks)
        except StoreRejected as exc:
            return exc
        return None

    def _write_checkpoint(
        self,
        conn: Connection,
        job: str,
        state: EngineState,
        close: Callable[[Connection], list[ClosedWindow]] | None,
        hooks: Sequence[Callable[[Connection, EngineState, list[ClosedWindow]], None]],
    ) -> list[ClosedWindow]:
        """The steps of :meth:`checkpoint` (the module docstring) in ``conn``'s transaction."""
        closed: list[ClosedWindow] = []
        self._upsert(
            conn,
            schema.panes,
            [
                {"job": job, "source": s, "model_id": m, "model_version": v, "pane": p, "sketch": blob}
                for (s, m, v, p), blob in state.panes.items()
            ],
        )
        if state.deleted:
            t = schema.panes
            keys = list(state.deleted)
            for i in range(0, len(keys), 500):
                conn.execute(
                    delete(t).where(
                        t.c.job == job,
                        tuple_(t.c.source, t.c.model_id, t.c.model_version, t.c.pane).in_(keys[i : i + 500]),
                    )
                )
        self._write_windows(conn, state.windows)
        self._upsert(
            conn,
            schema.late_events,
            [
                {"job": job, "model_id": m, "model_version": v, "pane_start": p, "count": c}
                for (m, v, p), c in state.late.items()
            ],
            add=("count",),
        )
        self._upsert(
            conn,
            schema.offsets,
            [
                {
                    "job": job,
                    "source": s,
                    "next_offset": state.offsets.get(s),
                    "watermark": state.watermarks.get(s),
                    "idle_since": state.idle.get(s),
                }
                for s in state.offsets.keys() | state.watermarks.keys() | state.idle.keys()
            ],
        )
        if close is not None:
            closed = close(conn)
        else:
            self._upsert(
                conn, schema.frontiers, [{"job": job, "model_id": m, "pane": p} for m, p in state.frontiers.items()]
            )
        for hook in hooks:
            hook(conn, state, state.windows + closed)
        return closed

    def _write_windows(self, conn: Connection, closed: list[ClosedWindow]) -> None:
        rows, summaries = [], []
        for w in (x for parent in closed for x in (parent, *parent.segments)):
            key = {"model_id": w.model_id, "model_version": w.model_version, "segment": w.segment, "window_start": w.start_ms, "window_end": w.end_ms}
            for c in w.columns:
                rows.append(
                    {
                        **key,
                        "feature": c.feature,
                        "kind": c.kind,
                        "count": c.count,
                        "missing": c.missing,
                        "statistics": _json(c.statistics),
                        "quality": _json(c.quality),
                        "previous": _json(c.previous),
                        "drift": c.drift,
                        "severity": c.severity,
                        "baseline": w.dataset.baseline,
                        "reference_version": w.reference_version,
                        "decided_by": _json(c.decided_by),
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
        self._upsert(conn, schema.windows, rows)
        self._upsert(conn, schema.window_summaries, summaries)

    # -- shared closing (called inside a checkpoint transaction) -----------------------------
    def source_marks(self, conn: Connection, job: str) -> dict[str, tuple[int | None, int | None]]:
        """source -> (watermark, idle_since) of every source of ``job``."""
        o = schema.offsets
        rows = conn.execute(select(o.c.source, o.c.watermark, o.c.idle_since).where(o.c.job == job))
        return {r.source: (r.watermark, r.idle_since) for r in rows}

    def lock_frontier(self, conn: Connection, job: str, model_id: str) -> int | None:
        """The model's frontier (last closed window end pane), locked for this transaction."""
        f = schema.frontiers
        q = select(f.c.pane).where(f.c.job == job, f.c.model_id == model_id)
        if self.dialect == "postgresql":
            q = q.with_for_update()
        return conn.execute(q).scalar()

    def set_frontier(self, conn: Connection, job: str, model_id: str, pane: int) -> None:
        self._upsert(conn, schema.frontiers, [{"job": job, "model_id": model_id, "pane": pane}])

    def model_panes(self, conn: Connection, job: str, model_id: str, upto: int) -> dict[tuple[str, str, int], bytes]:
        """(source, version, pane) -> sketch of every source of ``job`` for ``model_id`` up to
        pane ``upto``; the ``#previous`` pseudo-source included."""
        t = schema.panes
        rows = conn.execute(
            select(t.c.source, t.c.model_version, t.c.pane, t.c.sketch).where(
                t.c.job == job, t.c.model_id == model_id, (t.c.pane <= upto) | t.c.source.startswith("#")
            )
        )
        return {(r.source, r.model_version, r.pane): bytes(r.sketch) for r in rows}

    def drop_panes(self, conn: Connection, job: str, model_id: str, below: int) -> None:
        """Delete the model's panes (all sources) with index <= ``below``."""
        t = schema.panes
        conn.execute(
            delete(t).where(t.c.job == job, t.c.model_id == model_id, t.c.pane <= below, ~t.c.source.startswith("#"))
        )

    def put_panes(self, conn: Connection, job: str, model_id: str, panes: dict[tuple[str, str, int], bytes]) -> None:
        self._upsert(
            conn,
            schema.panes,
            [{"job": job, "source": s, "model_id": model_id, "model_version": v, "pane": p, "sketch": b} for (s, v, p), b in panes.items()],
        )

    def write_windows(self, conn: Connection, closed: list[ClosedWindow]) -> None:
        self._write_windows(conn, closed)

    def load_state(self, job: str, sources: Iterable[str] | None = None) -> EngineState:
        """The checkpointed state of ``job`` (only ``sources`` when given)."""
        wanted = None if sources is None else set(sources)
        state = EngineState()
        with self._tx() as conn:
            t = schema.panes
            q = select(t).where(t.c.job == job)
            for r in conn.execute(q).mappings():
                if wanted is None or r["source"] in wanted or r["source"].startswith("#"):
                    state.panes[(r["source"], r["model_id"], r["model_version"], r["pane"])] = bytes(r["sketch"])
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

    def reset(self, job: str) -> None:
        """Forget the checkpointed state of ``job`` (windows already persisted stay)."""
        with self._tx() as conn:
            for t in (schema.panes, schema.offsets, schema.frontiers, schema.late_events, schema.job_settings):
                conn.execute(delete(t).where(t.c.job == job))

    # -- queries -----------------------------------------------------------------------------
    def windows(
        self, model_id: str, feature: str | None = None, since_ms: int | None = None, version: str | None = None, segment: str | None = ""
    ) -> list[dict[str, Any]]:
        """Persisted windows of a model, oldest first, as the ``monitor windows`` JSON contract:
        of the whole population by default, of one segment ("key=value"), or all (None)."""
        t = schema.windows
        q = select(t).where(t.c.model_id == model_id)
        if segment is not None:
            q = q.where(t.c.segment == segment)
        if feature:
            q = q.where(t.c.feature == feature)
        if since_ms is not None:
            q = q.where(t.c.window_end > since_ms)
        if version:
            q = q.where(t.c.model_version == version)
        with self._tx() as conn:
            rows = conn.execute(q.order_by(t.c.window_start, t.c.model_version, t.c.segment, t.c.feature)).mappings().all()
        return [dict(r) for r in rows]

    def summaries(self, model_id: str, since_ms: int | None = None, segment: str | None = "") -> list[dict[str, Any]]:
        """Window summaries (dataset drift) of a model, oldest first; segments as in :meth:`windows`."""
        t = schema.window_summaries
        q = select(t).where(t.c.model_id == model_id)
        if segment is not None:
            q = q.where(t.c.segment == segment)
        if since_ms is not None:
            q = q.where(t.c.window_end > since_ms)
        with self._tx() as conn:
            rows = conn.execute(q.order_by(t.c.window_start, t.c.model_version, t.c.segment)).mappings().all()
        return [dict(r) for r in rows]

    def performance(self, model_id: str, version: str | None = None) -> list[dict[str, Any]]:
        """Performance per window and metric, realized next to estimated (the report's rows:
        ``model_version, window_start, window_end, metric, realized, estimated``)."""
        from monitor.store.performance import PerformanceRepository

        out = []
        for row in PerformanceRepository(self).windows(model_id, version):
            realized, estimated = row["metrics"] or {}, row["estimated"] or {}
            for metric in ("accuracy", "precision", "recall", "f1", "roc_auc", "mae", "rmse", "r2"):
                if realized.get(metric) is not None or estimated.get(metric) is not None:
                    out.append({
                        "model_version": row["model_version"], "window_start": row["window_start"], "window_end": row["window_end"],
                        "metric": metric, "realized": realized.get(metric), "estimated": estimated.get(metric),
                    })
        return out

    def alert_history(self, model_id: str) -> list[dict[str, Any]]:
        """Alert state transitions of a model, oldest first."""
        from monitor.alerts.queries import alert_history

        with self._tx() as conn:
            return alert_history(conn, model_id=model_id)

    def quarantined(self, job: str | None = None) -> list[dict[str, Any]]:
        """What checkpoints set aside because the database refused it, oldest first (see
        :mod:`monitor.store.quarantine`)."""
        t = quarantine.quarantine
        q = select(t).order_by(t.c.id)
        with self._tx() as conn:
            rows = conn.execute(q if job is None else q.where(t.c.job == job)).mappings()
            return [dict(r) for r in rows]

    def late_counts(self, model_id: str) -> dict[tuple[str, int], int]:
        """(version, pane start) -> late events, summed over jobs."""
        t = schema.late_events
        q = (
            select(t.c.model_version, t.c.pane_start, func.sum(t.c.count).label("count"))
            .where(t.c.model_id == model_id)
            .group_by(t.c.model_version, t.c.pane_start)
        )
        with self._tx() as conn:
            rows = conn.execute(q).mappings().all()
        return {(r["model_version"], r["pane_start"]): int(r["count"]) for r in rows}
