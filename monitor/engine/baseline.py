"""Production baselines: a model version with no reference, configured with
``reference.baseline_events: N``, holds its first N events, builds its reference from them, and
then sketches them like any other events. Held events are checkpointed as pseudo-panes under
``BASELINE|source``, so a restart holds the same events, and the windows they fall in wait for
the baseline (:meth:`Baselines.floor`).

>>> from monitor.config import parse_config
>>> from monitor.windows import WindowSpec
>>> cfg = parse_config({"models": {"m": {"features": {"x": {"kind": "numeric"}},
...     "window": "1s", "reference": {"baseline_events": 10}}}})
>>> held = Baselines({"m": WindowSpec.of(cfg.models["m"])})
>>> held.floor("m") is None
True
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import msgspec
import numpy as np

from monitor.engine.state import BASELINE, PaneKey
from monitor.events import ModelBatch
from monitor.layout import PREDICTION, SCORE, Layout
from monitor.windows import WindowSpec

__all__ = ["Baselines", "reference_rows"]

#: (source, events) held for one model version, in arrival order
Held = list[tuple[str, ModelBatch]]


class Baselines:
    """The events held per (model, version) until its baseline reference is built."""

    def __init__(self, specs: Mapping[str, WindowSpec]) -> None:
        self.specs = specs
        self.held: dict[tuple[str, str], Held] = {}
        self._dirty: set[tuple[str, str, str]] = set()  # (source, model, version)

    def hold(self, source: str, model_id: str, version: str, batch: ModelBatch) -> int:
        """Hold ``batch``; returns how many events the version now holds."""
        held = self.held.setdefault((model_id, version), [])
        held.append((source, batch))
        self._dirty.add((source, model_id, version))
        return sum(len(b) for _, b in held)

    def take(self, model_id: str, version: str) -> tuple[Held, set[PaneKey]]:
        """Stop holding the version's events: (the events, their checkpoint keys to delete)."""
        held = self.held.pop((model_id, version))
        keys = set()
        for source, _ in held:
            self._dirty.discard((source, model_id, version))
            keys.add(_key(source, model_id, version))
        return held, keys

    def versions(self, model_id: str) -> set[str]:
        return {v for (m, v) in self.held if m == model_id}

    def floor(self, model_id: str) -> int | None:
        """The earliest pane of events held for a baseline of ``model_id`` (windows from there
        on must wait for the baseline)."""
        return earliest_pane(
            self.specs[model_id],
            (
                int(b.timestamps.min())
                for (m, _), h in self.held.items()
                if m == model_id
                for _, b in h
            ),
        )

    def drain(self) -> dict[PaneKey, bytes]:
        """The held events of every (source, version) changed since the last drain."""
        out = {}
        for source, model_id, version in self._dirty:
            batches = [
                b.to_bytes() for s, b in self.held.get((model_id, version), []) if s == source
            ]
            out[_key(source, model_id, version)] = msgspec.msgpack.encode(batches)
        self._dirty = set()
        return out

    def restore(self, key: PaneKey, blob: bytes, sources: Iterable[str]) -> None:
        """Hold the checkpointed events of ``key`` again, if its source is one of ``sources``."""
        source = key[0].split("|", 1)[1]
        if source in sources:
            held = self.held.setdefault((key[1], key[2]), [])
            held += [(source, ModelBatch.from_bytes(b)) for b in msgspec.msgpack.decode(blob)]

    def forget(self, sources: set[str]) -> None:
        for version_key, held in list(self.held.items()):
            self.held[version_key] = [(s, b) for s, b in held if s not in sources]
            if not self.held[version_key]:
                del self.held[version_key]


def is_held(source: str) -> bool:
    """Whether a checkpointed pane's ``source`` is a baseline's held events."""
    return source.startswith(BASELINE)


def held_times(blob: bytes) -> list[int]:
    """The earliest event time of each batch in a checkpointed held-events blob."""
    return [int(ModelBatch.from_bytes(b).timestamps.min()) for b in msgspec.msgpack.decode(blob)]


def earliest_pane(spec: WindowSpec, times: Iterable[int]) -> int | None:
    """The pane of the earliest of ``times`` (None for none)."""
    first = min(times, default=None)
    return None if first is None else spec.pane(first)


def _key(source: str, model_id: str, version: str) -> PaneKey:
    return (f"{BASELINE}|{source}", model_id, version, 0)


def reference_rows(
    layout: Layout, segment_keys: tuple[str, ...], held: Held
) -> dict[str, list | np.ndarray]:
    """The held events as reference rows (prediction events only for prediction columns),
    with a column per segment key."""
    batches = [b for _, b in held]
    numeric = np.concatenate([b.numeric for b in batches])
    has_pred = np.concatenate([b.has_prediction for b in batches])
    rows: dict[str, list | np.ndarray] = {}
    for j, name in enumerate(layout.numeric):
        col = numeric[:, j]
        rows[name] = col[has_pred] if name in (SCORE, PREDICTION) else col
    for j, name in enumerate(layout.categorical):
        values = [v for b in batches for v in b.categorical[j]]
        rows[name] = [v for v, p in zip(values, has_pred) if p] if name == PREDICTION else values
    for key in segment_keys:
        rows[key] = [
            s.get(key) if s else None for b in batches for s in (b.segments or [None] * len(b))
        ]
    return rows
