"""Closing windows across processes, from the checkpointed state in SQL.

With several processes in one consumer group, each holds the panes of its own partitions. A
window closes when the checkpointed watermark of *every* partition has passed its end plus the
allowed lateness. Then the panes of every partition that the window needs are in SQL and
complete: each process checkpoints its panes and its watermarks together, and an event that
reaches a partition after its watermark passed is late by that partition's own rule (see
:meth:`monitor.engine.Engine.process`). So whichever process checkpoints first after that point
closes the window, inside its checkpoint transaction, with the model's frontier row locked: the
result is the same whichever process it is, and it is written once.

Idle partitions (caught up, silent for ``idle_timeout``) advance by wall clock: their watermark
counts as ``watermark + (now - idle_since)``; a partition that never had data and is idle does
not hold windows back; a partition nobody has reported yet does.

>>> global_watermark({"a", "b"}, {"a": (100, None), "b": (50, 1000)}, now_ms=1030)
80
>>> global_watermark({"a", "b"}, {"a": (100, None)}, now_ms=0) is None
True
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping

import msgspec
import numpy as np
from sqlalchemy import Connection

from monitor.engine import BASELINE, PREVIOUS, ClosedWindow, Engine
from monitor.events import ModelBatch
from monitor.segments import split
from monitor.sketches import Sketch
from monitor.store import Store
from monitor.windows import WindowSpec

__all__ = ["SharedCloser", "global_watermark"]


def global_watermark(
    sources: Collection[str], marks: Mapping[str, tuple[int | None, int | None]], now_ms: int
) -> int | None:
    """The event time all ``sources`` have reached, or None while one has not reported."""
    effective = []
    for source in sources:
        if source not in marks:
            return None
        watermark, idle_since = marks[source]
        if idle_since is not None:
            if watermark is not None:
                effective.append(watermark + max(0, now_ms - idle_since))
        elif watermark is None:
            return None
        else:
            effective.append(watermark)
    return min(effective) if effective else None


def _held_floor(spec: WindowSpec, blobs: Mapping[tuple[str, str, int], bytes]) -> int | None:
    """The earliest pane of the events any process holds for a baseline (checkpointed)."""
    times = [
        int(ModelBatch.from_bytes(b).timestamps.min())
        for (source, _, _), blob in blobs.items()
        if source.startswith(BASELINE)
        for b in msgspec.msgpack.decode(blob)
    ]
    return int(spec.pane_of(np.array([min(times)]))[0]) if times else None


class SharedCloser:
    """The ``close`` step of a checkpoint for a process in a consumer group."""

    def __init__(
        self,
        engine: Engine,
        store: Store,
        job: str,
        sources: Callable[[], Collection[str]],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.store = store
        self.job = job
        self.sources = sources
        self.clock = clock

    def __call__(self, conn: Connection) -> list[ClosedWindow]:
        sources = self.sources()
        if not sources:
            return []
        watermark = global_watermark(
            sources, self.store.source_marks(conn, self.job), int(self.clock() * 1000)
        )
        if watermark is None:
            return []
        closed: list[ClosedWindow] = []
        for model_id, spec in self.engine.specs.items():
            upto = spec.closable(watermark)
            frontier = self.store.lock_frontier(conn, self.job, model_id)
            if frontier is not None and upto <= frontier:
                self.engine.prune(model_id, frontier)
                continue
            blobs = self.store.model_panes(conn, self.job, model_id, upto)
            floor = _held_floor(spec, blobs)
            if floor is not None:
                upto = min(
                    upto, floor - 1
                )  # events held for a baseline still belong to these windows
                if frontier is not None and upto <= frontier:
                    continue
            panes: dict[tuple[str, int], list[Sketch]] = {}
            previous: dict[str, Sketch] = {}
            for (source, version, pane), blob in blobs.items():
                if source == PREVIOUS:
                    previous[version] = Sketch.from_bytes(blob)
                elif not source.startswith(BASELINE) and pane <= upto:
                    panes.setdefault((version, pane), []).append(Sketch.from_bytes(blob))
            for version in {split(pop)[0] for pop, _ in panes}:
                # A process may close windows of a version it never consumed itself: read the
                # reference inside this transaction.
                if not self.engine.has_geometry(model_id, version):
                    profile = self.store.get_reference(model_id, version, conn=conn)
                    if profile is not None:
                        self.engine.use_reference(version, profile)
            before = {v: id(s) for v, s in previous.items()}
            windows = self.engine.close_windows(model_id, panes, frontier, upto, previous)
            self.store.write_windows(conn, windows)
            changed = {
                (PREVIOUS, v, 0): s.to_bytes()
                for v, s in previous.items()
                if before.get(v) != id(s)
            }
            self.store.put_panes(conn, self.job, model_id, changed)
            self.store.drop_panes(conn, self.job, model_id, upto - spec.panes + 1)
            self.store.set_frontier(conn, self.job, model_id, upto)
            self.engine.prune(model_id, upto)
            closed += windows
        return closed
