"""Periodic checkpoints: drain the engine's state and write it to SQL in one transaction.

The order of a checkpoint (see :meth:`monitor.store.Store.checkpoint`) is written down once, in
the store. Here: when to checkpoint, and what to do when the database is away — keep the
drained delta and retry it merged with the next one, so nothing is lost while the feeder
applies backpressure (it stops consuming while :attr:`Checkpointer.healthy` is false).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from sqlalchemy import Connection

import numpy as np

from monitor.alerts import AlertEvaluator
from monitor.engine import ClosedWindow, Engine, EngineState
from monitor.performance.window import evaluate_performance
from monitor.store.performance import PerformanceRepository
from monitor.exceptions import StoreError
from monitor.store import Store

__all__ = ["Checkpointer"]

log = logging.getLogger(__name__)


class Checkpointer:
    """Checkpoint ``engine`` into ``store`` under ``job`` every ``interval_s`` seconds."""

    def __init__(
        self,
        engine: Engine,
        store: Store,
        job: str,
        interval_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        closer: Callable[[Connection], list[ClosedWindow]] | None = None,
        after_close: Callable[[Connection, list[ClosedWindow]], None] | None = None,
        alerts: AlertEvaluator | None = None,
    ) -> None:
        self.engine = engine
        self.store = store
        self.job = job
        self.interval_s = interval_s
        self.clock = clock
        self.closer = closer
        self.performance = PerformanceRepository(store)
        self.hooks: list[Callable[[Connection, EngineState, list[ClosedWindow]], None]] = [self._join]
        if after_close is not None:  # alert evaluation and its outbox, after the join's windows
            self.hooks.append(lambda conn, _state, windows: after_close(conn, windows))
        self.alerts = alerts
        #: performance window rows refreshed by the last checkpoint, and labels it found
        #: orphaned per model (for the metrics)
        self.refreshed: list[dict] = []
        self.orphans: dict[str, int] = {}
        self._pending: EngineState | None = None
        self._last = clock()
        self.healthy = True
        self.last_duration: float | None = None
        self.listeners: list[Callable[[list[ClosedWindow], float], None]] = []

    def due(self) -> bool:
        return self.clock() - self._last >= self.interval_s

    def maybe(self) -> bool:
        """Checkpoint if the interval has passed; True when a checkpoint was written."""
        return self.commit() if self.due() else False

    def _join(self, conn: Connection, state: EngineState, windows: list[ClosedWindow]) -> None:
        """Checkpoint step 6a: the label join's delta, performance windows, concept drift."""
        delta = state.join
        self.refreshed, self.orphans = [], {}
        if not (delta.records or delta.panes or self.engine.join.models):
            return
        watermark = min(state.watermarks.values()) if state.watermarks else None
        engine = self.engine

        def evaluate(model_id: str, version: str, blobs: list[bytes]) -> dict:
            geo = engine.geometry(model_id, version) if engine.has_geometry(model_id, version) else None
            prof = geo.reference.columns.get("prediction") if geo is not None else None
            classes = dict(zip(prof.vocab, prof.counts[:-1].tolist())) if prof is not None and prof.kind == "categorical" else None
            return evaluate_performance(blobs, classes)

        self.orphans, self.refreshed = self.performance.write(conn, self.job, delta, engine.config, watermark, evaluate)
        refreshed = self.refreshed
        self.performance.write_detections(conn, state.detections)
        if self.alerts is not None:
            self._performance_alerts(conn, refreshed, windows, state)

    def _performance_alerts(self, conn: Connection, refreshed: list[dict], windows: list[ClosedWindow], state: EngineState) -> None:
        """Performance rules (step 6b): each rule kind once per window, when its figure is
        complete enough to judge — realized performance once half the window's predictions are
        labeled or the window is final, label coverage when final, the estimate when the drift
        window closes (its predictions are all in), concept drift at a detection."""
        alerts = self.alerts
        assert alerts is not None
        for row in refreshed:
            key = (conn, row["model_id"], row["model_version"], row["window_start"], row["window_end"])
            coverage = row["metrics"].get("coverage") or 0.0
            if row["final"] or coverage >= 0.5:
                alerts.evaluate_values(*key, row["metrics"], "performance")
            if row["final"]:
                alerts.evaluate_values(*key, {"label_coverage": coverage}, "label_coverage")
        for w in windows:
            row = self.performance.window(conn, w.model_id, w.model_version, w.start_ms, w.end_ms)
            if row is not None and row["estimated"]:
                alerts.evaluate_values(conn, w.model_id, w.model_version, w.start_ms, w.end_ms, row["estimated"], "estimated_performance")
        for model_id, version, detection in state.detections:
            spec = self.engine.specs[model_id]
            end = int(spec.pane_of(np.array([detection.time]))[0])
            start, stop = spec.bounds(end + spec.panes - 1)
            alerts.evaluate_values(conn, model_id, version, start, stop, {"concept_drift": 1.0, "position": detection.position}, "concept_drift")

    def discard(self) -> None:
        """Forget a delta that could not be written (the caller rewinds to the checkpoint)."""
        self._pending = None
        self.engine.drain()

    def commit(self) -> bool:
        """Write everything not yet checkpointed. False (and kept for later) if the database
        is unavailable."""
        state = self.engine.drain()
        if self._pending is not None:
            state = self._pending.then(state)
        self._last = self.clock()
        try:
            self.last_duration, closed = self.store.checkpoint(self.job, state, self.closer, self.hooks)
        except StoreError as exc:
            if self.healthy:
                log.warning("checkpoint failed, will retry: %s", exc)
            self._pending = state
            self.healthy = False
            return False
        if not self.healthy:
            log.info("checkpoint succeeded again; the database is back")
        self._pending = None
        self.healthy = True
        for listener in self.listeners:
            listener(state.windows + closed, self.last_duration)
        return True
