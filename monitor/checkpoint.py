"""Periodic checkpoints: drain the engine's state and write it to SQL in one transaction.

The order of a checkpoint (see :meth:`monitor.store.Store.checkpoint`) is written down once, in
the store. Here: when to checkpoint, and what to do when the database is away — keep the
drained delta and retry it merged with the next one, so nothing is lost while the feeder
applies backpressure (it stops consuming while :attr:`Checkpointer.healthy` is false).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable

from sqlalchemy import Connection

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
    ) -> None:
        self.engine = engine
        self.store = store
        self.job = job
        self.interval_s = interval_s
        self.clock = clock
        self.closer = closer
        self.performance = PerformanceRepository(store)
        self.hooks: list[Callable[[Connection, EngineState, list[ClosedWindow]], None]] = [self._join]
        self.orphaned: Counter[str] = Counter()
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
        if not (delta.records or delta.panes or self.engine.join.models):
            return
        watermark = min(state.watermarks.values()) if state.watermarks else None
        engine = self.engine

        def evaluate(model_id: str, version: str, blobs: list[bytes]) -> dict:
            geo = engine.geometry(model_id, version) if engine.has_geometry(model_id, version) else None
            prof = geo.reference.columns.get("prediction") if geo is not None else None
            classes = dict(zip(prof.vocab, prof.counts[:-1].tolist())) if prof is not None and prof.kind == "categorical" else None
            return evaluate_performance(blobs, classes)

        self.orphaned.update(self.performance.write(conn, self.job, delta, engine.config, watermark, evaluate))
        self.performance.write_detections(conn, state.detections)

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
