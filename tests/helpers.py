"""Small builders shared by the engine tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from monitor.alerts import AlertEvaluator
from monitor.config import Config, parse_config
from monitor.engine import ClosedWindow, Engine, EngineState, MemoryReferences
from monitor.events import EventDecoder
from monitor.layout import Layout
from monitor.pipeline.checkpoint import Checkpointer
from monitor.pipeline.closing import close, flush
from monitor.reference import ReferenceProfile
from monitor.store import Store
from monitor.synth import (
    Columns,
    DriftSpec,
    StreamSpec,
    default_features,
    generate,
    reference_rows,
    to_jsonl,
)


def small_spec(
    n_numeric: int = 3, drift: tuple[DriftSpec, ...] = (), seed: int = 1, interval_ms: int = 100
) -> StreamSpec:
    return StreamSpec(
        features=default_features(n_numeric, {"cat10": 10}),
        drift=drift,
        seed=seed,
        interval_ms=interval_ms,
    )


def config_for(spec: StreamSpec, **model: Any) -> Config:
    features = {f.name: {"kind": f.kind} for f in spec.features}
    return parse_config({"models": {spec.model_id: {"features": features, **model}}})


def rows_of(cols: Columns) -> dict[str, Any]:
    rows: dict[str, Any] = {n: cols.numeric[:, i] for i, n in enumerate(cols.numeric_names)}
    rows.update({n: cols.categorical[i].tolist() for i, n in enumerate(cols.categorical_names)})
    rows["score"] = cols.score
    rows["prediction"] = cols.prediction.tolist()
    return rows


def engine_for(
    spec: StreamSpec, cfg: Config, reference_size: int = 20_000, fine_bins: int = 1000
) -> Engine:
    refs = MemoryReferences()
    layout = Layout.from_model(cfg.models[spec.model_id])
    refs.save_reference(
        ReferenceProfile.build(
            spec.model_id, "*", layout, rows_of(reference_rows(spec, reference_size)), fine_bins
        )
    )
    return Engine(cfg, refs)


def feed(engine: Engine, cfg: Config, data: bytes, chunk_lines: int, source: str = "s") -> list:
    """Feed JSONL in chunks, closing windows after each; returns closed windows (incl. flush)."""
    decoder = EventDecoder(cfg)
    lines = data.splitlines(keepends=True)
    closed = []
    for i in range(0, len(lines), chunk_lines):
        engine.process(
            source, decoder.decode_lines(b"".join(lines[i : i + chunk_lines])), i + chunk_lines
        )
        closed += close(engine, engine.watermark())
    return closed + flush(engine)


def jsonl(spec: StreamSpec, n: int, offset: int = 0) -> bytes:
    return to_jsonl(spec, generate(spec, n, offset))


def wait_for(
    predicate: Callable[[], object], timeout: float, what: str, interval: float = 0.25
) -> None:
    """Poll ``predicate`` until it is truthy; fail naming ``what`` after ``timeout`` seconds.

    Tests wait for a condition, never for a fixed time: give a deadline several times what a
    quiet machine needs, since the suite runs on loaded 2-core boxes.

    >>> wait_for(lambda: True, 1, "nothing")
    >>> wait_for(lambda: False, 0.1, "the impossible", interval=0.05)
    Traceback (most recent call last):
    AssertionError: timed out after 0.1 s waiting for the impossible
    """
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def window_table(windows: list) -> dict:
    """Closed windows as comparable plain data: key -> (counts, statistics)."""
    out = {}
    for w in windows:
        for c in w.columns:
            out[(w.model_version, w.start_ms, w.end_ms, c.feature)] = (
                c.count,
                c.missing,
                c.statistics,
                c.severity,
                c.quality,
            )
    return out


__all__ = [
    "config_for",
    "engine_for",
    "feed",
    "jsonl",
    "np",
    "rows_of",
    "small_spec",
    "wait_for",
    "window_table",
]


#: A config for checkpoints of hand-made states (model "fraud", one feature)
FRAUD = parse_config({"models": {"fraud": {"features": {"x": {"kind": "numeric"}}}}})


def checkpoint(
    store: Store,
    job: str,
    state: EngineState,
    config: Config = FRAUD,
    alerts: AlertEvaluator | None = None,
    now_ms: int | None = None,
) -> list[ClosedWindow]:
    """Write ``state`` as one checkpoint transaction of ``job``, the pipeline's own
    (:meth:`monitor.pipeline.checkpoint.Checkpointer.transaction`), as a replay writes it;
    ``now_ms``: the wall clock the alerts see."""
    checkpointer = Checkpointer(Engine(config, store), store, job, alerts=alerts)
    if now_ms is not None:
        checkpointer.wall_clock = lambda: now_ms / 1000
    with store.tx() as conn:
        return checkpointer.transaction(conn, state)
