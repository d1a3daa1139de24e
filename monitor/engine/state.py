"""The engine's state types: what a checkpoint persists and what a closed window is.

Plain data, importable by the store without the engine's machinery.

>>> a = EngineState(offsets={"p0": 10}, late=Counter({("m", "1", 0): 2}))
>>> b = EngineState(offsets={"p0": 20}, late=Counter({("m", "1", 0): 1}))
>>> merged = a.then(b)
>>> merged.offsets, merged.late[("m", "1", 0)]
({'p0': 20}, 3)
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Protocol

from monitor.drift import ColumnResult, DatasetResult
from monitor.join import JoinDelta
from monitor.performance.drift_detectors import Detection
from monitor.reference import ReferenceProfile
from monitor.sketches import Sketch

__all__ = [
    "BASELINE",
    "PREVIOUS",
    "ClosedWindow",
    "DetectorKey",
    "EngineState",
    "MemoryReferences",
    "PaneKey",
    "ReferenceSource",
    "ToClose",
]

#: (source, model_id, population, pane index); the population is the model version, or a
#: segment of it (:func:`monitor.segments.population`)
PaneKey = tuple[str, str, str, int]
#: (join key, model_id, model_version): one concept-drift detector per partition and version
DetectorKey = tuple[str, str, str]
#: The pseudo-source under which the previous closed window of a model version is kept.
PREVIOUS = "#previous"
#: Events held for a production baseline are checkpointed as ``BASELINE + "|" + source``.
BASELINE = "#baseline"


class ReferenceSource(Protocol):
    """Where reference profiles come from (the SQL store in production)."""

    def get_reference(self, model_id: str, model_version: str) -> ReferenceProfile | None: ...

    def save_reference(self, profile: ReferenceProfile) -> ReferenceProfile: ...


class MemoryReferences:
    """An in-memory :class:`ReferenceSource` (tests and doctests)."""

    def __init__(self) -> None:
        self._profiles: dict[tuple[str, str], ReferenceProfile] = {}

    def get_reference(self, model_id: str, model_version: str) -> ReferenceProfile | None:
        return self._profiles.get((model_id, model_version)) or self._profiles.get((model_id, "*"))

    def save_reference(self, profile: ReferenceProfile) -> ReferenceProfile:
        self._profiles[(profile.model_id, profile.model_version)] = profile
        return profile


@dataclass(frozen=True)
class ClosedWindow:
    """One evaluated window of a model version, with the same window of each of its segments
    (``segments``: windows whose ``segment`` is "key=value")."""

    model_id: str
    model_version: str
    start_ms: int
    end_ms: int
    reference_version: int
    columns: list[ColumnResult]
    dataset: DatasetResult
    # time to evaluate it: its share of the windows evaluated with it
    close_seconds: float | None = field(default=None, compare=False)
    segment: str = ""
    segments: list[ClosedWindow] = field(default_factory=list)


@dataclass
class ToClose:
    """A model's windows to evaluate (:meth:`~monitor.engine.Engine.evaluate_windows`): those
    after ``frontier`` up to window end pane ``upto``, from ``panes`` ((population, pane) ->
    the sketches of every source). ``previous`` (population -> its last closed window) is
    updated in place when the model compares consecutive windows; ``read_previous`` is what
    it held before, as read."""

    model_id: str
    panes: dict[tuple[str, int], list[Sketch]]
    frontier: int | None
    upto: int
    previous: dict[str, Sketch]
    read_previous: dict[str, Sketch]


@dataclass
class EngineState:
    """What a checkpoint persists (deltas since the previous drain, plus full positions)."""

    panes: dict[PaneKey, bytes] = field(default_factory=dict)  # upserts
    deleted: set[PaneKey] = field(default_factory=set)
    windows: list[ClosedWindow] = field(default_factory=list)
    #: (model, version, pane_start_ms) -> events dropped as late
    late: Counter[tuple[str, str, int]] = field(default_factory=Counter)
    offsets: dict[str, int] = field(default_factory=dict)
    watermarks: dict[str, int] = field(default_factory=dict)
    frontiers: dict[str, int] = field(default_factory=dict)
    idle: dict[str, int | None] = field(default_factory=dict)  # source -> idle since (wall ms)
    join: JoinDelta = field(default_factory=JoinDelta)
    #: (model, version, detection)
    detections: list[tuple[str, str, Detection]] = field(default_factory=list)
    #: concept-drift detectors changed: key -> (errors seen, serialised detector)
    detectors: dict[DetectorKey, tuple[int, bytes]] = field(default_factory=dict)

    def then(self, newer: EngineState) -> EngineState:
        """This delta followed by ``newer`` as one delta (a checkpoint that failed is retried
        together with the next one)."""
        panes = {k: v for k, v in self.panes.items() if k not in newer.deleted}
        panes.update(newer.panes)
        return EngineState(
            panes,
            (self.deleted - newer.panes.keys()) | newer.deleted,
            self.windows + newer.windows,
            self.late + newer.late,
            newer.offsets,
            newer.watermarks,
            newer.frontiers,
            newer.idle,
            self.join.then(newer.join),
            self.detections + newer.detections,
            {**self.detectors, **newer.detectors},
        )
