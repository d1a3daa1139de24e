"""The checkpoint: drain the engine's state and write it to SQL in one transaction.

The checkpoint is the heart of the exactly-once effect: window state and the positions that
produced it are committed together, so a crash before the commit loses the whole delta and the
feeder re-reads from the positions of the previous checkpoint, which rebuilds exactly the lost
delta. Its steps, and their order, are written once: :meth:`Checkpointer.transaction`, each step
a call into a store module.

Here too: when to checkpoint, and what to do when it fails. The store says why
(:mod:`monitor.exceptions`), and each reason has its answer:

- the database is away (:class:`StoreUnavailable`): keep the drained delta and retry it merged
  with the next one, so nothing is lost while the feeder applies backpressure (it stops
  consuming while :attr:`Checkpointer.healthy` is false, and ``/readyz`` says "unreachable");
- the database or its disk is full (:class:`StoreFull`, a kind of unavailable): the same, as
  "full"; unless the caller cannot wait for an operator (``wait_for_operator=False``, a replay),
  then :meth:`Checkpointer.commit` raises it: the state stays at the last checkpoint, resumable;
- the database refuses data in the delta (:class:`StoreRejected`): retrying the same delta would
  fail forever, so the refused parts are found and quarantined with the database's reason
  (:mod:`monitor.store.quarantine`: a ``quarantine`` row each, an ERROR line each, counted in
  :attr:`Checkpointer.quarantined`), and the rest is written with the positions: the stream
  moves on. Should even that be refused, the checkpoint fails as "rejected data" and is retried
  (a live service, paused) or raised (``wait_for_operator=False``).
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Collection, Sequence

from sqlalchemy import Connection

from monitor.alerts import AlertEvaluator
from monitor.engine import ClosedWindow, Engine, EngineState
from monitor.exceptions import StoreError, StoreFull, StoreRejected
from monitor.performance.window import evaluate_performance
from monitor.pipeline.closing import close_shared
from monitor.store import Store, quarantine, windows
from monitor.store import state as pipeline_state
from monitor.store.performance import PerformanceRepository

__all__ = ["Checkpointer"]

log = logging.getLogger(__name__)


class Checkpointer:
    """Checkpoint ``engine`` into ``store`` under ``job`` every ``interval_s`` seconds.

    ``wait_for_operator``: when a checkpoint fails for a reason only a person can remove (a full
    disk, data refused even after quarantine), keep retrying (a live service), or raise the error
    from :meth:`commit` (False: a replay, which then ends with it).
    """

    def __init__(
        self,
        engine: Engine,
        store: Store,
        job: str,
        interval_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        shared: Callable[[], Collection[str]] | None = None,
        alerts: AlertEvaluator | None = None,
        wait_for_operator: bool = True,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        """``shared``: the sources of a consumer group whose watermarks windows wait for; each
        checkpoint then closes the windows they all passed, from SQL (step 5). Without it, the
        feeder closes windows from memory (a replay) and the checkpoint writes them (step 2).
        ``alerts``: the rules to evaluate on what the checkpoint closed and refreshed."""
        self.engine = engine
        self.store = store
        self.job = job
        self.interval_s = interval_s
        self.clock = clock
        self.shared = shared
        self.performance = PerformanceRepository(store)
        self.alerts = alerts
        #: performance window rows refreshed by the last checkpoint, and labels it found
        #: orphaned per model (for the metrics)
        self.refreshed: list[dict] = []
        self.orphans: dict[str, int] = {}
        #: labels the last checkpoint wrote as past their prediction's horizon, per model
        self.after_horizon: Counter[str] = Counter()
        self.wait_for_operator = wait_for_operator
        self.wall_clock = wall_clock
        self._pending: EngineState | None = None
        self._last = clock()
        self.healthy = True
        #: why the last checkpoint failed (None once one succeeds)
        self.last_error: StoreError | None = None
        #: ``clock()`` when the last checkpoint that succeeded drained the engine (or when the
        #: checkpointer was made): work since then is not in SQL
        self.last_success = self._last
        self.last_duration: float | None = None
        #: parts of checkpoints quarantined, per (model id, part): for a counter metric
        self.quarantined: Counter[tuple[str, str]] = Counter()
        self.listeners: list[Callable[[list[ClosedWindow], float], None]] = []

    def due(self) -> bool:
        return self.clock() - self._last >= self.interval_s

    def maybe(self) -> bool:
        """Checkpoint if the interval has passed; True when a checkpoint was written."""
        return self.commit() if self.due() else False

    def transaction(
        self,
        conn: Connection,
        state: EngineState,
        quarantined: Sequence[dict] = (),
        trial: bool = False,
    ) -> list[ClosedWindow]:
        """One checkpoint of ``state`` in the transaction ``conn``: the steps below, in this
        order. Returns the windows closed by step 5. ``trial``: the data steps only (1-4, 6, 7),
        written to find what the database refuses and then rolled back
        (:mod:`monitor.store.quarantine`)."""
        job, s = self.job, state
        # 1. Drift panes changed since the last checkpoint (upsert), and those no window needs
        #    any more (delete).
        pipeline_state.write_panes(conn, job, s.panes, s.deleted)
        # 2. Windows closed from memory (a replay), with their summaries: upserted on their
        #    natural key, so a replayed window overwrites itself with the same values.
        windows.write(conn, s.windows)
        # 3. Late-event counts (added).
        pipeline_state.add_late(conn, job, s.late)
        # 4. This process's positions, watermarks and idle marks, per source.
        pipeline_state.write_positions(conn, job, s.offsets, s.watermarks, s.idle)
        # 5. Closing. In a consumer group: the windows every partition's checkpointed watermark
        #    passed, from every process's panes (monitor.pipeline.closing), which moves the
        #    frontiers. Otherwise: the frontiers the feeder's closing from memory moved.
        closed: list[ClosedWindow] = []
        if self.shared is not None and not trial:
            now_ms = int(self.wall_clock() * 1000)
            closed = close_shared(self.engine, self.store, conn, job, self.shared(), now_ms)
        else:
            pipeline_state.write_frontiers(conn, job, s.frontiers)
        # 6. The label join: its records and performance panes, the performance windows they
        #    change, and records past the label horizon dropped (monitor.store.performance).
        orphans, refreshed = self._write_join(conn, s)
        # 7. Concept drift: the detectors' state and their detections.
        self.performance.write_detectors(conn, job, s.detectors)
        self.performance.write_detections(conn, s.detections)
        if trial:
            return closed
        # 8. The parts of this checkpoint the database refused, with its reason.
        quarantine.record(conn, list(quarantined))
        # 9. Alerts: performance rules, then the rules on every window closed; notifications go
        #    to the outbox in this same transaction (monitor.alerts).
        if self.alerts is not None:
            if s.join.records or s.join.panes or self.engine.join.models:
                self._performance_alerts(conn, refreshed, s.windows + closed, s)
            if s.windows or closed:
                self.alerts.evaluate(conn, s.windows + closed, int(self.wall_clock() * 1000))
        # What memory learns only once the step is in: the join forgets the expired records.
        if (watermark := _watermark(s)) is not None:
            self.engine.join.expire(watermark)
        self.orphans, self.refreshed = orphans, refreshed
        self.after_horizon = Counter()
        for (_key, model_id), count in s.join.after_horizon.items():
            self.after_horizon[model_id] += count
        return closed

    def _write_join(
        self, conn: Connection, state: EngineState
    ) -> tuple[dict[str, int], list[dict]]:
        """The label join's delta and the performance windows it changes: (orphaned labels per
        model, refreshed performance window rows)."""
        delta = state.join
        if not (delta.records or delta.panes or self.engine.join.models):
            return {}, []
        watermark = _watermark(state)
        engine = self.engine

        def evaluate(model_id: str, version: str, blobs: list[bytes]) -> dict:
            geo = (
                engine.geometry(model_id, version)
                if engine.has_geometry(model_id, version)
                else None
            )
            prof = geo.reference.columns.get("prediction") if geo is not None else None
            classes = (
                dict(zip(prof.vocab, prof.counts[:-1].tolist()))
                if prof is not None and prof.kind == "categorical"
                else None
            )
            calibration = geo.reference.calibration if geo is not None else None
            return evaluate_performance(blobs, classes, calibration)

        return self.performance.write(conn, self.job, delta, engine.config, watermark, evaluate)

    def _performance_alerts(
        self,
        conn: Connection,
        refreshed: list[dict],
        windows: list[ClosedWindow],
        state: EngineState,
    ) -> None:
        """Performance rules (step 6b): each rule kind once per window, when its figure is
        complete enough to judge — realized performance once half the window's predictions are
        labeled or the window is final, label coverage when final, the estimate when the drift
        window closes (its predictions are all in), concept drift at a detection."""
        alerts = self.alerts
        assert alerts is not None
        for row in refreshed:
            key = (
                conn,
                row["model_id"],
                row["model_version"],
                row["window_start"],
                row["window_end"],
            )
            coverage = row["metrics"].get("coverage") or 0.0
            if row["final"] or coverage >= 0.5:
                alerts.evaluate_values(*key, row["metrics"], "performance")
            if row["final"]:
                alerts.evaluate_values(*key, {"label_coverage": coverage}, "label_coverage")
        for w in windows:
            window = self.performance.window(
                conn, w.model_id, w.model_version, w.start_ms, w.end_ms
            )
            if window is not None and window["estimated"]:
                alerts.evaluate_values(
                    conn,
                    w.model_id,
                    w.model_version,
                    w.start_ms,
                    w.end_ms,
                    window["estimated"],
                    "estimated_performance",
                )
        for model_id, version, detection in state.detections:
            start, stop = self.engine.specs[model_id].window_of(int(detection.time))
            alerts.evaluate_values(
                conn,
                model_id,
                version,
                start,
                stop,
                {"concept_drift": 1.0, "position": detection.position},
                "concept_drift",
            )

    def discard(self) -> None:
        """Forget a delta that could not be written (the caller rewinds to the checkpoint)."""
        self._pending = None
        self.engine.drain()

    def commit(self) -> bool:
        """Write everything not yet checkpointed; what the database refuses is quarantined (the
        module docstring). False (and kept for later) if the database is unavailable; raises
        the error instead when it needs an operator and ``wait_for_operator`` is False."""
        state = self.engine.drain()
        if self._pending is not None:
            state = self._pending.then(state)
        drained = self._last = self.clock()
        try:
            written, closed = self._write(state)
        except StoreError as exc:
            self._failed(state, exc)
            return False
        if not self.healthy:
            log.info("checkpoint succeeded again; the database is back")
        self._pending = None
        self.healthy = True
        self.last_error = None
        self.last_success = drained
        for listener in self.listeners:
            listener(written.windows + closed, self.last_duration or 0.0)
        return True

    def problem(self) -> str | None:
        """Why checkpoints are failing, in words for ``/readyz`` (None while they succeed)."""
        if self.healthy:
            return None
        exc = self.last_error
        if isinstance(exc, StoreRejected):
            return (
                "rejected data: checkpoints fail even with the refused data quarantined; "
                f"consumption paused ({exc})"
            )
        if isinstance(exc, StoreFull):
            return f"full: checkpoints fail until space is freed; consumption paused ({exc})"
        return "unreachable: checkpoints are failing; consumption paused" + (
            f" ({exc})" if exc else ""
        )

    def _failed(self, state: EngineState, exc: StoreError) -> None:
        """Keep ``state`` for the next attempt and say so, once per kind of failure; or raise
        ``exc`` if it needs an operator and we may not wait for one."""
        fatal = not self.wait_for_operator and isinstance(exc, StoreFull | StoreRejected)
        if not fatal and (self.healthy or type(exc) is not type(self.last_error)):
            log.log(
                logging.ERROR if isinstance(exc, StoreRejected) else logging.WARNING,
                "checkpoint failed, will retry: %s",
                exc,
            )
        self._pending = state
        self.healthy = False
        self.last_error = exc
        if fatal:
            raise exc

    def _write(self, state: EngineState) -> tuple[EngineState, list[ClosedWindow]]:
        """Checkpoint ``state``; if the database refuses some of it, quarantine that and write
        the rest. Returns what was written and the windows the closing step closed."""
        try:
            return state, self._checkpoint(state, [])
        except StoreRejected as exc:
            kept, dropped = quarantine.isolate(state, self._rejection, exc)
        try:
            return kept, self._checkpoint(kept, self._rows(state, dropped))
        except StoreRejected as exc:  # refused only together, or in a step not tried alone
            kept, dropped = quarantine.everything(state, exc)
        return kept, self._checkpoint(kept, self._rows(state, dropped))

    def _rows(self, state: EngineState, dropped: list[quarantine.Dropped]) -> list[dict]:
        return quarantine.rows(state, dropped, self.job, int(self.wall_clock() * 1000))

    def _rejection(self, part: EngineState) -> StoreRejected | None:
        """Why the database refuses ``part`` as a checkpoint, or None if it takes it: its data
        steps written in a transaction that is then rolled back. An unreachable database
        raises :class:`~monitor.exceptions.StoreUnavailable`."""
        try:
            with self.store.tx(rollback=True) as conn:
                self.transaction(conn, part, trial=True)
        except StoreRejected as exc:
            return exc
        return None

    def _checkpoint(self, state: EngineState, rows: list[dict]) -> list[ClosedWindow]:
        """One checkpoint transaction of ``state``, with the ``quarantine`` rows ``rows``."""
        started = time.perf_counter()
        with self.store.tx() as conn:
            closed = self.transaction(conn, state, rows)
        self.last_duration = time.perf_counter() - started
        for row in rows:
            log.error(
                "the database refused the %s of model %s version %s (%s): %s; quarantined (table"
                " quarantine), the rest of the checkpoint was written",
                row["part"],
                row["model_id"],
                row["model_version"],
                json.dumps(row["dropped"]),
                row["reason"],
                extra={"model_id": row["model_id"]},
            )
            self.quarantined[(row["model_id"], row["part"])] += 1
        return closed


def _watermark(state: EngineState) -> int | None:
    """The watermark of a checkpoint's label horizon: the slowest source's."""
    return min(state.watermarks.values()) if state.watermarks else None
