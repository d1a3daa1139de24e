"""SQL side of the label join: join records, performance panes and windows.

Called from the checkpoint transaction (step 6 of
:meth:`monitor.pipeline.checkpoint.Checkpointer.transaction`), after positions and drift panes:
the join's delta is written, the performance windows whose panes changed are
recomputed from the panes of every partition, records past the label horizon are dropped (an
early label whose prediction never came is counted as an orphan), and windows past the horizon
are final. It writes through :mod:`monitor.store.db` and imports nothing else of the store but
the schema, so :class:`monitor.store.Store` can offer its queries without an import circle.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from itertools import repeat
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, and_, bindparam, delete, func, select, update

from monitor.config import Config
from monitor.exceptions import StoreRejected
from monitor.performance.record import (
    LABEL,
    LABEL_TS,
    MODEL,
    PRED,
    SCORE,
    SEGMENTS,
    TS,
    VERSION,
    Record,
)
from monitor.store import schema
from monitor.store.db import Database, cursor, upsert
from monitor.store.staging import NULL, copy, stage
from monitor.windows import WindowSpec

#: the metrics :meth:`PerformanceRepository.metric_rows` reports, in the report's order
METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc", "mae", "rmse", "r2")

if TYPE_CHECKING:
    from monitor.engine.state import DetectorKey
    from monitor.join import JoinDelta

__all__ = ["METRICS", "PerformanceRepository"]

#: the columns of a join record a lookup returns: the prediction id, then the record's fields
_LOOKED_UP = (
    "prediction_id",
    "model_id",
    "model_version",
    "ts",
    "prediction",
    "score",
    "segments",
    "label",
    "label_ts",
)

#: the columns of a join record's label-only update, as its rows have them (the label and its
#: time, then the record's key)
_RELABEL = "label, label_ts, job, join_key, prediction_id"

#: every column of a join record, as its rows have them
_COLUMNS = (
    "job, join_key, prediction_id, model_id, model_version, ts, prediction, score, segments, "
    "label, label_ts"
)


class PerformanceRepository:
    """The join's records and the performance panes and windows of ``db``.

    >>> db = Database("sqlite://"); db.upgrade()
    >>> repo = PerformanceRepository(db)
    >>> repo.windows("m"), repo.metric_rows("m"), repo.lookup("job", "k", ["p1"])
    ([], [], {})
    """

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- lookups (outside a checkpoint) -----------------------------------------------------
    def lookup(self, job: str, key: str, ids: list[str]) -> dict[str, Record]:
        """The stored records of ``ids``. An id the database refuses even to compare (a NUL
        character on PostgreSQL) cannot have been stored: the ids are halved until it is found,
        and it is not found."""
        out: dict[str, Record] = {}
        try:
            with self.db.tx() as conn:
                found = (
                    self._lookup_pg(conn, job, key, ids)
                    if self.db.dialect == "postgresql"
                    else self._lookup_in(conn, job, key, ids)
                )
                out.update((r[0], tuple(r[1:])) for r in found)
        except StoreRejected:
            if len(ids) == 1:
                return {}
            half = len(ids) // 2
            return self.lookup(job, key, ids[:half]) | self.lookup(job, key, ids[half:])
        return out

    @staticmethod
    def _lookup_in(conn: Connection, job: str, key: str, ids: list[str]) -> list[Any]:
        """Rows of ``ids`` through an IN list, 900 at a time (SQLite's limit on parameters)."""
        t = schema.join_records
        # One cached statement with an expanding IN list and plain tuples: a literal IN list is
        # compiled anew per chunk, and row mappings cost more than the lookup itself.
        query = select(*(t.c[c] for c in _LOOKED_UP)).where(
            t.c.job == job,
            t.c.join_key == key,
            t.c.prediction_id.in_(bindparam("ids", expanding=True)),
        )
        rows: list[Any] = []
        for i in range(0, len(ids), 900):
            rows += conn.execute(query, {"ids": ids[i : i + 900]}).all()
        return rows

    @staticmethod
    def _lookup_pg(conn: Connection, job: str, key: str, ids: list[str]) -> list[Any]:
        """Rows of ``ids`` in one statement: one primary-key probe per id of an array. With an
        IN list (or ``= ANY``, or a join to the array) and no statistics yet (a replay outruns
        autovacuum), the planner searched the key on (job, join key) alone and filtered (or
        hashed) every record of the partition: 0.12 s per 900 ids against 400,000 records. The
        ``LATERAL ... LIMIT 1`` (the key is unique) keeps the probe per id: 5,000 ids against
        300,000 records in 0.05-0.08 s where the join took 0.42 s."""
        with cursor(conn) as cur:
            cur.execute(
                f"SELECT {', '.join(_LOOKED_UP)} FROM unnest(%s::text[]) AS i(id), LATERAL "
                "(SELECT * FROM join_records r WHERE r.job = %s AND r.join_key = %s "
                "AND r.prediction_id = i.id LIMIT 1) r",
                (ids, job, key),
            )
            return list(cur.fetchall())

    def write_detections(self, conn: Connection, detections: list[tuple[str, str, Any]]) -> None:
        upsert(
            conn,
            schema.concept_drift_events,
            [
                {
                    "model_id": m,
                    "model_version": v,
                    "method": d.method,
                    "detected_at": int(d.time),
                    "position": int(d.position),
                }
                for m, v, d in detections
            ],
        )

    def write_detectors(
        self, conn: Connection, job: str, detectors: Mapping[DetectorKey, tuple[int, bytes]]
    ) -> None:
        """Upsert the state of concept-drift detectors (key: join key, model, version)."""
        upsert(
            conn,
            schema.drift_detectors,
            [
                {
                    "job": job,
                    "join_key": k,
                    "model_id": m,
                    "model_version": v,
                    "seen": seen,
                    "state": blob,
                }
                for (k, m, v), (seen, blob) in detectors.items()
            ],
        )

    def load_detectors(self, job: str, keys: Iterable[str]) -> list[tuple[DetectorKey, int, bytes]]:
        """The checkpointed concept-drift detectors of the join ``keys``."""
        t = schema.drift_detectors
        with self.db.tx() as conn:
            rows = conn.execute(select(t).where(t.c.job == job, t.c.join_key.in_(list(keys))))
            return [
                ((r.join_key, r.model_id, r.model_version), r.seen, bytes(r.state)) for r in rows
            ]

    def load_panes(
        self, job: str, keys: Iterable[str]
    ) -> list[tuple[tuple[str, str, str, int], bytes]]:
        t = schema.performance_panes
        with self.db.tx() as conn:
            rows = conn.execute(select(t).where(t.c.job == job, t.c.join_key.in_(list(keys))))
            return [
                ((r.join_key, r.model_id, r.model_version, r.pane), bytes(r.state)) for r in rows
            ]

    # -- inside the checkpoint --------------------------------------------------------------
    def write(
        self,
        conn: Connection,
        job: str,
        delta: JoinDelta,
        config: Config,
        watermark: int | None,
        evaluate: Callable[[str, str, list[bytes]], dict[str, Any]],
    ) -> tuple[dict[str, int], list[dict[str, Any]]]:
        """Write the join delta, refresh the touched performance windows, expire old records;
        returns the orphaned labels (whose prediction never came) per model and the refreshed
        window rows."""
        self._write_records(conn, job, delta.records, delta.relabeled)
        upsert(
            conn,
            schema.performance_panes,
            [
                {
                    "job": job,
                    "join_key": k,
                    "model_id": m,
                    "model_version": v,
                    "pane": p,
                    "state": b,
                }
                for (k, m, v, p), b in delta.panes.items()
            ],
        )
        refreshed = list(self._refresh(conn, job, delta.touched, config, evaluate).values())
        upsert(conn, schema.performance_windows, refreshed)
        orphans = self._expire(conn, job, config, watermark) if watermark is not None else {}
        for row in refreshed:  # the expiry may have made it final
            horizon = config.models[row["model_id"]].labels.horizon
            if watermark is not None and row["window_end"] <= watermark - horizon:
                row["final"] = True
        return orphans, refreshed

    def window(
        self, conn: Connection, model_id: str, version: str, start: int, end: int
    ) -> dict[str, Any] | None:
        w = schema.performance_windows
        q = select(w).where(
            w.c.model_id == model_id,
            w.c.model_version == version,
            w.c.window_start == start,
            w.c.window_end == end,
        )
        row = conn.execute(q).mappings().first()
        return dict(row) if row is not None else None

    def _write_records(
        self,
        conn: Connection,
        job: str,
        records: dict[tuple[str, str], Record],
        relabeled: dict[tuple[str, str], Record],
    ) -> None:
        """Upsert join records in bulk (the driver's executemany on SQLite, COPY through a
        staging table on PostgreSQL, :mod:`monitor.store.staging`): they are the one table
        written per event (twice: prediction, then label), and SQLAlchemy's per-row parameter
        handling costs more than the database does here.

        A stored record that only got a label (``relabeled``) has just its label updated: half
        the cost of an upsert on SQLite, which rewrites the row and its ``ts`` index entry. On
        PostgreSQL, COPY and one ``UPDATE ... FROM`` the staged labels updated 200,000 records
        at 46,500 a second where ``execute_values``' upsert managed 10,900 (same machine, one
        after the other). Should a row not be there (expired meanwhile), they are all upserted
        whole after all.
        """
        if not records and not relabeled:
            return
        if self.db.dialect == "sqlite":
            # 64 MB of pages for this connection (SQLite's default is 2 MB): the join
            # records' indexes stay in memory. Only where they are written: a job without
            # labels keeps the default, and its memory does not grow with its windows.
            conn.exec_driver_sql("PRAGMA cache_size=-65536")
        self._upsert_records(conn, job, records)
        if not relabeled:
            return
        # the label a string for the database, as in the whole row
        rows = [(str(r[LABEL]), r[LABEL_TS], job, key, pid) for (key, pid), r in relabeled.items()]
        with cursor(conn) as cur:
            if self.db.dialect == "postgresql":
                stage(cur, "join_labels_stage", "join_records", _RELABEL, rows)
                cur.execute(
                    "UPDATE join_records r SET label = s.label, label_ts = s.label_ts "
                    "FROM join_labels_stage s WHERE r.job = s.job AND r.join_key = s.join_key "
                    "AND r.prediction_id = s.prediction_id"
                )
            else:
                cur.executemany(
                    "UPDATE join_records SET label = ?, label_ts = ? "
                    "WHERE job = ? AND join_key = ? AND prediction_id = ?",
                    rows,
                )
            updated = cur.rowcount
        if updated < len(rows):
            self._upsert_records(conn, job, relabeled)

    def _upsert_records(
        self, conn: Connection, job: str, records: dict[tuple[str, str], Record]
    ) -> None:
        """Write ``records`` whole. On PostgreSQL they are COPY'd straight into the table, in
        a savepoint: most are new (a prediction's first write), and 300,000 records went in at
        103,000 a second so against 46,000-77,000 through the staging table's upsert (one after
        the other in one process). Should one be stored already (an early label its prediction
        now joins, a record evicted and brought back), the COPY fails on the key and is rolled
        back, and they are upserted through the staging table."""
        if not records:
            return
        postgresql = self.db.dialect == "postgresql"
        null = NULL if postgresql else None  # COPY's null marker: no per-row replacement
        keys, values = list(records), list(records.values())

        def column(field: int, spell: Callable[[Any], Any] | None = None) -> list[Any]:
            """A field of every record, spelled for the database, None as ``null``: built
            column by column in C-level maps (a row at a time cost a fifth of the write)."""
            col = list(map(itemgetter(field), values))
            if not col.count(None):
                return col if spell is None else list(map(spell, col))
            return [null if v is None else v if spell is None else spell(v) for v in col]

        rows = list(
            zip(
                repeat(job),
                map(itemgetter(0), keys),
                map(itemgetter(1), keys),
                column(MODEL),
                column(VERSION),
                column(TS),
                column(PRED, str),
                column(SCORE),
                column(SEGMENTS, json.dumps),
                column(LABEL, str),
                column(LABEL_TS),
            )
        )
        updates = ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS.split(", ")[3:])
        conflict = f"ON CONFLICT (job, join_key, prediction_id) DO UPDATE SET {updates}"
        with cursor(conn) as cur:
            if not postgresql:
                cur.executemany(
                    f"INSERT INTO join_records ({_COLUMNS}) VALUES ({', '.join('?' * 11)}) "
                    f"{conflict}",
                    rows,
                )
                return
            cur.execute("SAVEPOINT join_records_copy")
            try:
                copy(cur, "join_records", _COLUMNS, rows)
            except conn.dialect.loaded_dbapi.IntegrityError:  # a key stored already
                cur.execute("ROLLBACK TO SAVEPOINT join_records_copy")
                stage(cur, "join_records_stage", "join_records", _COLUMNS, rows)
                cur.execute(
                    f"INSERT INTO join_records ({_COLUMNS}) SELECT {_COLUMNS} "
                    f"FROM join_records_stage {conflict}"
                )
            else:
                cur.execute("RELEASE SAVEPOINT join_records_copy")

    def _refresh(
        self,
        conn: Connection,
        job: str,
        touched: set[tuple[str, str, int]],
        config: Config,
        evaluate: Callable[[str, str, list[bytes]], dict[str, Any]],
    ) -> dict[tuple[str, str, int], dict[str, Any]]:
        t = schema.performance_panes
        out = {}
        ends: set[tuple[str, str, int]] = set()
        for model_id, version, pane in touched:
            k = WindowSpec.of(config.models[model_id]).panes
            ends.update((model_id, version, e) for e in range(pane, pane + k))
        for model_id, version, end in sorted(ends):
            cfg = config.models[model_id]
            spec = WindowSpec.of(cfg)
            first = end - spec.panes + 1
            q = select(t.c.state).where(
                t.c.job == job,
                t.c.model_id == model_id,
                t.c.model_version == version,
                t.c.pane >= first,
                t.c.pane <= end,
            )
            blobs = [bytes(b) for (b,) in conn.execute(q)]
            if not blobs:
                continue
            start, stop = spec.bounds(end)
            row = evaluate(model_id, version, blobs)
            out[(model_id, version, end)] = {
                "model_id": model_id,
                "model_version": version,
                "window_start": start,
                "window_end": stop,
                "final": False,
                **row,
            }
        return out

    def _expire(self, conn: Connection, job: str, config: Config, watermark: int) -> dict[str, int]:
        r, w, p = schema.join_records, schema.performance_windows, schema.performance_panes
        orphans: dict[str, int] = {}
        for model_id, cfg in config.models.items():
            cutoff = watermark - cfg.labels.horizon
            conn.execute(delete(r).where(r.c.job == job, r.c.model_id == model_id, r.c.ts < cutoff))
            early = and_(
                r.c.job == job, r.c.model_id == model_id, r.c.ts.is_(None), r.c.label_ts < cutoff
            )
            orphans[model_id] = int(conn.execute(select(func.count()).where(early)).scalar() or 0)
            conn.execute(delete(r).where(early))
            conn.execute(
                update(w)
                .where(w.c.model_id == model_id, w.c.final.is_(False), w.c.window_end <= cutoff)
                .values(final=True)
            )
            spec = WindowSpec.of(cfg)
            oldest = spec.pane(cutoff) - spec.panes
            conn.execute(
                delete(p).where(p.c.job == job, p.c.model_id == model_id, p.c.pane < oldest)
            )
        return orphans

    # -- queries ----------------------------------------------------------------------------
    def windows(
        self,
        model_id: str,
        version: str | None = None,
        since_ms: int | None = None,
        until_ms: int | None = None,
    ) -> list[dict[str, Any]]:
        """Performance windows of a model (of one version when given), oldest first; those
        ending after ``since_ms`` and starting before ``until_ms`` when given."""
        w = schema.performance_windows
        q = select(w).where(w.c.model_id == model_id)
        if version:
            q = q.where(w.c.model_version == version)
        if since_ms is not None:
            q = q.where(w.c.window_end > since_ms)
        if until_ms is not None:
            q = q.where(w.c.window_start < until_ms)
        q = q.order_by(w.c.window_start, w.c.model_version)
        with self.db.tx() as conn:
            return [dict(r) for r in conn.execute(q).mappings()]

    def metric_rows(self, model_id: str, version: str | None = None) -> list[dict[str, Any]]:
        """Performance per window and metric, realized next to estimated (the report's rows:
        ``model_version, window_start, window_end, metric, realized, estimated``), for the
        :data:`METRICS` either side has."""
        out = []
        for row in self.windows(model_id, version):
            realized, estimated = row["metrics"] or {}, row["estimated"] or {}
            for metric in METRICS:
                if realized.get(metric) is not None or estimated.get(metric) is not None:
                    out.append(
                        {
                            "model_version": row["model_version"],
                            "window_start": row["window_start"],
                            "window_end": row["window_end"],
                            "metric": metric,
                            "realized": realized.get(metric),
                            "estimated": estimated.get(metric),
                        }
                    )
        return out

    def concept_drift(self, model_id: str) -> list[dict[str, Any]]:
        """Concept-drift detections of a model, oldest first."""
        c = schema.concept_drift_events
        q = select(c).where(c.c.model_id == model_id).order_by(c.c.detected_at)
        with self.db.tx() as conn:
            return [dict(r) for r in conn.execute(q).mappings()]
