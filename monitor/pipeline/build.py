"""The one place that wires a pipeline: engine, label-join lookup, checkpoint, closing and
alerts, for either feeder (:mod:`monitor.pipeline.files`, :mod:`monitor.pipeline.kafka`).

>>> from monitor.config import parse_config
>>> from monitor.store import Store
>>> store = Store("sqlite://"); store.upgrade()
>>> cfg = parse_config({"models": {"m": {"features": {"x": {"kind": "numeric"}}}}})
>>> pipeline = build(cfg, store, "job")
>>> pipeline.restore().offsets
{}
>>> pipeline.checkpointer.commit()
True
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from monitor.alerts import AlertEvaluator
from monitor.config import Config
from monitor.engine import Engine, EngineState, Lookup
from monitor.event_time import EventTimeGuard
from monitor.join import join_key
from monitor.pipeline.checkpoint import Checkpointer
from monitor.store import Store
from monitor.store.performance import PerformanceRepository

__all__ = ["Pipeline", "build", "steady_collector"]


@contextmanager
def steady_collector() -> Iterator[None]:
    """The collector settings of a feeding loop, entered once everything long-lived is built.

    Modules, config, references and restored state live as long as the loop: frozen, the
    collector no longer scans them. The young generation is collected less often, since each
    batch allocates thousands of short-lived containers (lists of decoded events, Avro
    records), which reference counting frees anyway. On exit both are undone, so a process
    that replays many times (tests, notebooks) collects what earlier replays left.

    >>> with steady_collector():
    ...     gc.get_threshold()[0]
    10000
    """
    threshold = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(10_000, 20, 20)
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()


@dataclass
class Pipeline:
    """An engine with its checkpoint and alerts, under ``job``."""

    store: Store
    job: str
    engine: Engine
    checkpointer: Checkpointer
    alerts: AlertEvaluator

    def restore(self, sources: Iterable[str] | None = None) -> EngineState:
        """Load the checkpointed state of ``sources`` (all of the job's when None) into the
        engine: panes, positions, watermarks, held baseline events, and the label join's panes
        and detectors of their join keys. Everything is read before anything is applied, so a
        database that fails midway leaves the engine as it was. Returns the loaded state."""
        wanted = None if sources is None else set(sources)
        state = self.store.load_state(self.job, wanted)
        keys = {join_key(s) for s in (state.offsets if wanted is None else wanted)}
        performance = self.checkpointer.performance
        panes = performance.load_panes(self.job, keys)
        detectors = performance.load_detectors(self.job, keys)
        self.engine.restore(state)
        self.engine.restore_join(panes, detectors)
        return state


def build(
    config: Config,
    store: Store,
    job: str,
    *,
    labels: bool = False,
    time_guard: EventTimeGuard | None = None,
    shared: Callable[[], Collection[str]] | None = None,
    metrics: Any | None = None,
    wait_for_operator: bool = True,
    guard_lookup: Callable[[Lookup], Lookup] | None = None,
) -> Pipeline:
    """Wire a pipeline of ``config`` into ``store`` under ``job``.

    ``labels``: every model expects labels (a replay with label files). ``time_guard``: the
    feeder's event-time bounds (the live ones by default). ``shared``: the sources of a consumer
    group, whose windows the checkpoint closes from SQL (without it, the feeder closes them from
    memory). ``metrics``: for the alerts' gauges. ``wait_for_operator``: see
    :class:`Checkpointer`. ``guard_lookup``: wraps the label join's lookup of stored records
    (the Kafka loop waits there for the database)."""
    performance = PerformanceRepository(store)
    if labels or any(m.topics.labels for m in config.models.values()):
        # River (pandas, scipy.stats) loads lazily; a job with labels loads it here, in the
        # thread that builds the pipeline, not in a feeding thread while another thread may be
        # importing pandas (a partially initialised pandas broke `monitor demo` once).
        import river.drift
        import river.metrics  # noqa: F401

    def lookup(key: str, ids: list[str]) -> dict[str, Any]:
        return performance.lookup(job, key, ids)

    engine = Engine(
        config,
        store,
        labels=labels,
        time_guard=time_guard,
        lookup=guard_lookup(lookup) if guard_lookup is not None else lookup,
    )
    alerts = AlertEvaluator(config, store, metrics)
    checkpointer = Checkpointer(
        engine,
        store,
        job,
        interval_s=config.checkpoint_interval / 1000,
        shared=shared,
        alerts=alerts,
        wait_for_operator=wait_for_operator,
    )
    return Pipeline(store, job, engine, checkpointer, alerts)
