"""Closing windows: the one rule, read from memory (a replay) or from SQL (a consumer group).

A window closes when the watermark of *every* source has passed its end plus the allowed
lateness; the events held for a production baseline hold their windows back until the baseline
is built. :func:`close_models` applies that rule to every model, reading panes through a
:class:`PaneSource`:

- :class:`MemoryPanes`: the engine's own panes. A replay is one source, so its own watermark is
  every source's; the windows are written by the next checkpoint.
- :class:`SqlPanes`: the checkpointed panes of every process of a consumer group, read inside a
  checkpoint transaction with the model's frontier row locked. Each process checkpoints its
  panes and its watermarks together, and an event that reaches a partition after its watermark
  passed is late by that partition's own rule (:mod:`monitor.engine.clock`), so the panes a
  window needs are in SQL and complete once every partition's checkpointed watermark passed it:
  whichever process checkpoints first closes it, with the same result, once.

Idle partitions (caught up, silent for ``idle_timeout``) advance by wall clock: their watermark
counts as ``watermark + (now - idle_since)``; a partition that never had data and is idle does
not hold windows back; a partition nobody has reported yet does.

>>> global_watermark({"a", "b"}, {"a": (100, None), "b": (50, 1000)}, now_ms=1030)
80
>>> global_watermark({"a", "b"}, {"a": (100, None)}, now_ms=0) is None
True
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import Connection

from monitor.engine import PREVIOUS, ClosedWindow, Engine, PaneKey, ToClose
from monitor.engine.baseline import earliest_pane, held_times, is_held
from monitor.reference import ReferenceProfile
from monitor.segments import split
from monitor.sketches import Sketch
from monitor.store import references, state, windows
from monitor.store.db import Database

__all__ = [
    "MemoryPanes",
    "PaneSource",
    "Panes",
    "SqlPanes",
    "close",
    "close_models",
    "close_shared",
    "flush",
    "global_watermark",
]


@dataclass
class Panes:
    """What closing a model reads: the panes up to the last window to close ((population,
    pane) -> the sketches of every source), the previous window of each population, and the
    earliest pane of events held for a baseline (None when none are)."""

    panes: dict[tuple[str, int], list[Sketch]] = field(default_factory=dict)
    previous: dict[str, Sketch] = field(default_factory=dict)
    held_floor: int | None = None


class PaneSource(Protocol):
    """Where :func:`close_models` reads a model's panes and writes what closing changed."""

    def frontier(self, model_id: str) -> int | None:
        """The end pane of the model's last closed window."""
        ...

    def claim(self, model_id: str) -> tuple[bool, int | None]:
        """Keep others from closing the model's windows until this closing is written:
        (True, the frontier), or (False, None) while someone else is closing them."""
        ...

    def read(self, model_id: str, upto: int) -> Panes: ...

    def reference(self, model_id: str, version: str) -> ReferenceProfile | None:
        """The reference of a version the engine has not seen (None: the engine's own)."""
        ...

    def write(
        self,
        model_id: str,
        closed: list[ClosedWindow],
        previous: dict[str, Sketch],
        upto: int,
        pruned: set[PaneKey],
    ) -> None:
        """Keep the windows closed up to ``upto``, the changed ``previous`` windows, and drop
        the panes no window needs any more (``pruned``: those the engine held)."""
        ...


def close_models(
    engine: Engine, source: PaneSource, targets: list[tuple[str, int]]
) -> list[ClosedWindow]:
    """Close each (model, ``upto``) of ``targets``: the windows after the model's frontier up
    to window end pane ``upto`` (held back by events held for a baseline), evaluated together
    (one call of each statistic's kernel for all of them, :func:`monitor.drift.evaluate_many`)."""
    claimed = [c for model_id, upto in targets if (c := _claim(engine, source, model_id, upto))]
    closed = engine.evaluate_windows(claimed)
    for c, windows_of in zip(claimed, closed):
        changed = {v: s for v, s in c.previous.items() if c.read_previous.get(v) is not s}
        source.write(c.model_id, windows_of, changed, c.upto, engine.prune(c.model_id, c.upto))
    return [w for windows_of in closed for w in windows_of]


def _claim(engine: Engine, source: PaneSource, model_id: str, upto: int) -> ToClose | None:
    """What closing ``model_id`` up to ``upto`` evaluates, its frontier claimed; None when
    there is nothing to close (or someone else is closing it)."""
    # Only a closing that has something to close claims the model, and none waits for
    # another: when every checkpoint locked the frontier, a group's checkpoints queued on it
    # (2 s each at 64 processes, docs/scaling.md). Whoever holds it closes what it can; the
    # rest is closed at a later checkpoint.
    frontier = source.frontier(model_id)
    if frontier is None or upto > frontier:
        claimed, frontier = source.claim(model_id)
        if not claimed:
            return None
    if frontier is not None and upto <= frontier:
        engine.prune(model_id, frontier)  # closed already, by us or another process
        return None
    read = source.read(model_id, upto)
    if read.held_floor is not None:
        upto = min(upto, read.held_floor - 1)  # held events still belong to these windows
        if frontier is not None and upto <= frontier:
            return None
    panes = {key: sketches for key, sketches in read.panes.items() if key[1] <= upto}
    for version in {split(pop)[0] for pop, _ in panes}:
        if not engine.has_geometry(model_id, version):
            profile = source.reference(model_id, version)
            if profile is not None:
                engine.use_reference(version, profile)
    return ToClose(model_id, panes, frontier, upto, dict(read.previous), read.previous)


class MemoryPanes:
    """The engine's own panes (one source: a replay, a test)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def frontier(self, model_id: str) -> int | None:
        return self.engine.frontiers.get(model_id)

    def claim(self, model_id: str) -> tuple[bool, int | None]:
        return True, self.frontier(model_id)

    def read(self, model_id: str, upto: int) -> Panes:
        out = Panes(held_floor=self.engine.baselines.floor(model_id))
        for (src, m, pop, pane), sketch in self.engine.panes.items():
            if m != model_id:
                continue
            if src == PREVIOUS:
                out.previous[pop] = sketch
            elif pane <= upto:
                out.panes.setdefault((pop, pane), []).append(sketch)
        return out

    def reference(self, model_id: str, version: str) -> ReferenceProfile | None:
        return None

    def write(
        self,
        model_id: str,
        closed: list[ClosedWindow],
        previous: dict[str, Sketch],
        upto: int,
        pruned: set[PaneKey],
    ) -> None:
        for pop, sketch in previous.items():
            key = (PREVIOUS, model_id, pop, 0)
            self.engine.panes[key] = sketch
            self.engine.mark_dirty(key)
        self.engine.mark_deleted(pruned)
        self.engine.closed(closed)


class SqlPanes:
    """The checkpointed panes of every process of ``job``, in the checkpoint transaction
    ``conn`` of ``store``."""

    def __init__(self, store: Database, conn: Connection, job: str, engine: Engine) -> None:
        self.store = store
        self.conn = conn
        self.job = job
        self.specs = engine.specs

    def frontier(self, model_id: str) -> int | None:
        return state.frontier(self.conn, self.job, model_id)

    def claim(self, model_id: str) -> tuple[bool, int | None]:
        return state.claim_frontier(self.conn, self.job, model_id)

    def read(self, model_id: str, upto: int) -> Panes:
        out = Panes()
        times: list[int] = []
        for (src, pop, pane), blob in state.model_panes(
            self.conn, self.job, model_id, upto
        ).items():
            if src == PREVIOUS:
                out.previous[pop] = Sketch.from_bytes(blob)
            elif is_held(src):
                times += held_times(blob)
            else:
                out.panes.setdefault((pop, pane), []).append(Sketch.from_bytes(blob))
        out.held_floor = earliest_pane(self.specs[model_id], times)
        return out

    def reference(self, model_id: str, version: str) -> ReferenceProfile | None:
        # A process may close windows of a version it never consumed itself.
        return references.get(self.store, model_id, version, conn=self.conn)

    def write(
        self,
        model_id: str,
        closed: list[ClosedWindow],
        previous: dict[str, Sketch],
        upto: int,
        pruned: set[PaneKey],
    ) -> None:
        windows.write(self.conn, closed)
        blobs = {(PREVIOUS, v, 0): s.to_bytes() for v, s in previous.items()}
        state.put_panes(self.conn, self.job, model_id, blobs)
        state.drop_panes(self.conn, self.job, model_id, upto - self.specs[model_id].panes + 1)
        state.set_frontier(self.conn, self.job, model_id, upto)


def close(engine: Engine, watermark: int | None) -> list[ClosedWindow]:
    """Close, from the engine's own panes, every window that ``watermark`` passed."""
    if watermark is None:
        return []
    targets = [(model_id, spec.closable(watermark)) for model_id, spec in engine.specs.items()]
    return close_models(engine, MemoryPanes(engine), targets)


def flush(engine: Engine) -> list[ClosedWindow]:
    """Close every window that holds data (the end of a finite stream): a baseline still
    waiting for events is built from what it has."""
    for model_id, version in list(engine.baselines.held):
        engine.build_baseline(model_id, version)
    targets = []
    for model_id, spec in engine.specs.items():
        data = [k[3] for k in engine.panes if k[1] == model_id and k[0] != PREVIOUS]
        if data:
            targets.append((model_id, max(data) + spec.panes - 1))
    return close_models(engine, MemoryPanes(engine), targets)


def close_shared(
    engine: Engine,
    store: Database,
    conn: Connection,
    job: str,
    sources: Collection[str],
    now_ms: int,
) -> list[ClosedWindow]:
    """Close, from the checkpointed panes of every process of ``job`` (in the checkpoint
    transaction ``conn``), every window that all ``sources``' watermarks passed."""
    if not sources:
        return []
    watermark = global_watermark(sources, state.source_marks(conn, job), now_ms)
    if watermark is None:
        return []
    targets = [(model_id, spec.closable(watermark)) for model_id, spec in engine.specs.items()]
    return close_models(engine, SqlPanes(store, conn, job, engine), targets)


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
