"""The engine: the one entry point every feeder uses.

A feeder (the Kafka consumer, a file replay, a test) hands the engine batches of decoded events
from one *source* (a partition, a file) together with the position after the batch, then tells it
how far event time has progressed. The engine sketches events into per-source panes, closes the
windows the watermark has passed, and evaluates them. Nothing here knows where events came from.

State that must survive a restart (panes, positions, watermarks, frontiers, late counts, closed
windows not yet persisted) is drained with :meth:`Engine.drain` and written by the checkpoint
in one transaction; :meth:`Engine.restore` puts it back.

>>> from monitor.config import parse_config
>>> from monitor.events import EventDecoder
>>> from monitor.reference import ReferenceProfile
>>> from monitor.layout import Layout
>>> import numpy as np
>>> cfg = parse_config({"models": {"m": {"features": {"x": {"kind": "numeric"}},
...                    "window": "1s", "prediction": "none", "score": False}}})
>>> refs = MemoryReferences()
>>> _ = refs.save_reference(ReferenceProfile.build("m", "1", Layout.from_model(cfg.models["m"]),
...                                      {"x": np.random.default_rng(0).normal(size=1000)}))
>>> engine = Engine(cfg, refs)
>>> lines = b"".join(b'{"model_id":"m","model_version":"1","prediction_id":"%d","timestamp":%d,'
...                  b'"features":{"x":%f}}\\n' % (i, i * 10, 3 + i / 100) for i in range(300))
>>> engine.process("file", EventDecoder(cfg).decode_lines(lines), 300)
[]
>>> [(w.start_ms, w.end_ms, w.dataset.events) for w in engine.close(engine.watermark())]
[(0, 1000, 100), (1000, 2000, 100)]
>>> [(w.start_ms, w.columns[0].severity) for w in engine.flush()]
[(2000, 'critical')]
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Protocol

import msgspec
import numpy as np

from monitor.config import Config
from monitor.drift import ColumnResult, DatasetResult, evaluate
from monitor.event_time import OK, EventTimeGuard
from monitor.events import BadEvent, Decoded, DecodedLabels, ModelBatch
from monitor.join import JoinDelta, LabelJoin, join_key
from monitor.layout import PREDICTION, SCORE, Layout
from monitor.performance.drift_detectors import ConceptDriftMonitor, Detection
from monitor.performance.pane import PerformancePane
from monitor.reference import ReferenceProfile
from monitor.segments import SegmentPlan, population, split
from monitor.sketches import Geometry, Sketch, accumulate, groups
from monitor.values import categories
from monitor.windows import DETECTOR_PANE, WindowSpec, windows_to_close

__all__ = [
    "ClosedWindow",
    "Engine",
    "EngineState",
    "MemoryReferences",
    "PaneKey",
    "ReferenceSource",
]

log = logging.getLogger(__name__)

#: (source, model_id, population, pane index); the population is the model version, or a
#: segment of it (:func:`monitor.segments.population`)
PaneKey = tuple[str, str, str, int]
#: The pseudo-source under which the previous closed window of a model version is kept.
PREVIOUS = "#previous"
#: Events held for a production baseline are checkpointed as ``BASELINE + "|" + source``.
BASELINE = "#baseline"
#: Late drops are logged at most this often per model.
_LATE_LOG_EVERY_S = 60.0


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
    close_seconds: float | None = field(default=None, compare=False)  # time to evaluate it
    segment: str = ""
    segments: list[ClosedWindow] = field(default_factory=list)


@dataclass
class EngineState:
    """What a checkpoint persists (deltas since the previous drain, plus full positions)."""

    panes: dict[PaneKey, bytes] = field(default_factory=dict)  # upserts
    deleted: set[PaneKey] = field(default_factory=set)
    windows: list[ClosedWindow] = field(default_factory=list)
    late: Counter[tuple[str, str, int]] = field(
        default_factory=Counter
    )  # (model, version, pane_start_ms)
    offsets: dict[str, int] = field(default_factory=dict)
    watermarks: dict[str, int] = field(default_factory=dict)
    frontiers: dict[str, int] = field(default_factory=dict)
    idle: dict[str, int | None] = field(default_factory=dict)  # source -> idle since (wall ms)
    join: JoinDelta = field(default_factory=JoinDelta)
    detections: list[tuple[str, str, Detection]] = field(
        default_factory=list
    )  # (model, version, detection)

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
        )


class Engine:
    """Sketch batches into panes, close windows by watermark, evaluate them."""

    def __init__(
        self,
        config: Config,
        references: ReferenceSource,
        labels: bool = False,
        time_guard: EventTimeGuard | None = None,
    ) -> None:
        """``labels``: every model expects labels (a replay with label files); otherwise the
        models with a labels topic do. ``time_guard``: the event-time bounds of the feeder
        (default: the live ones, :meth:`EventTimeGuard.live`)."""
        self.config = config
        self.time_guard = time_guard or EventTimeGuard.live(config.event_time)
        self.references = references
        self.layouts = {m: Layout.from_model(c) for m, c in config.models.items()}
        self.specs = {m: WindowSpec.of(c) for m, c in config.models.items()}
        self.panes: dict[PaneKey, Sketch] = {}
        self.offsets: dict[str, int] = {}
        self.watermarks: dict[str, int] = {}
        self.frontiers: dict[str, int] = {}
        #: source -> wall-clock ms since when it has been caught up and silent (set by feeders)
        self.idle: dict[str, int | None] = {}
        #: late events seen by this process, per model (for metrics)
        self.late_by_model: Counter[str] = Counter()
        self._late_logged: dict[str, tuple[float, int]] = {}  # model -> (when, late count then)
        self._ahead: dict[str, int] = {}  # source -> events in a row ahead of its watermark
        #: model -> versions with open state here (a cache of :meth:`_active_versions`)
        self._active: dict[str, set[str]] = {}
        self._geometry: dict[tuple[str, str], Geometry] = {}  # (model, population) -> bins
        self._plans: dict[tuple[str, str], SegmentPlan] = {}
        self._baseline: dict[tuple[str, str], list[tuple[str, ModelBatch]]] = {}
        self._held_dirty: set[tuple[str, str, str]] = set()  # (source, model, version)
        self.join = LabelJoin(
            config,
            lookup=lambda key, ids: {},
            classes=self.classes,
            plan=self.plan,
            every_model=labels,
        )
        #: (join key, model, version) -> (errors seen, detector)
        self.detectors: dict[tuple[str, str, str], tuple[int, ConceptDriftMonitor]] = {}
        self._dirty_detectors: set[tuple[str, str, str]] = set()
        self._state = EngineState()
        self.on_close: list[Callable[[ClosedWindow], None]] = []

    # -- feeding -----------------------------------------------------------------------------
    def process(
        self, source: str, decoded: Decoded, next_offset: int | None = None
    ) -> list[BadEvent]:
        """Sketch one decoded batch from ``source``; returns events refused for want of a reference.

        An event is late when the watermark of its own source, as it stood just before the
        event, had passed the end of the event's pane plus the allowed lateness. Because that
        depends only on the source's own order of events, a replay, a restart or a rebalance
        classifies every event the same way.
        """
        refused: list[BadEvent] = []
        if decoded.batches:
            decoded, refused = self._admit_times(source, decoded)
        if not decoded.batches:
            if next_offset is not None:
                self.offsets[source] = next_offset
            return refused
        before = self._watermarks_before(source, decoded)
        for model_id, batch in decoded.batches.items():
            seen = before[model_id]
            for version, rows in _by_version(batch):
                if not self._admit_version(model_id, version):
                    detail = (
                        f"model {model_id!r} has {self.config.models[model_id].max_versions} "
                        f"versions with open windows (max_versions); version {version!r} is "
                        "refused until one of their windows closes"
                    )
                    refused += [
                        BadEvent(int(p), "too_many_versions", detail) for p in rows.positions
                    ]
                    continue
                sub = (
                    seen
                    if len(rows) == len(batch)
                    else seen[np.searchsorted(batch.positions, rows.positions)]
                )
                if self.join.expects_labels(model_id):
                    self._record_predictions(source, model_id, version, rows)
                refused += self._version(source, model_id, version, rows, sub)
        if next_offset is not None:
            self.offsets[source] = next_offset
        return refused

    def _record_predictions(
        self, source: str, model_id: str, version: str, batch: ModelBatch
    ) -> None:
        layout = self.layouts[model_id]
        cfg = self.config.models[model_id]
        if cfg.task == "regression":
            predictions = (
                batch.numeric[:, layout.numeric.index(PREDICTION)].tolist()
                if PREDICTION in layout.numeric
                else [None] * len(batch)
            )
        else:
            raw = (
                batch.categorical[layout.categorical.index(PREDICTION)]
                if PREDICTION in layout.categorical
                else [None] * len(batch)
            )
            predictions = categories(raw)  # spelled as labels are (monitor.values)
        scores = batch.numeric[:, layout.numeric.index(SCORE)] if SCORE in layout.numeric else None
        self.join.add_predictions(source, batch, version, predictions, scores)

    def process_labels(
        self, source: str, decoded: DecodedLabels, next_offset: int | None = None
    ) -> list[BadEvent]:
        """Join a decoded batch of labels from ``source``; returns the labels refused."""
        refused: list[BadEvent] = []
        for model_id, batch in decoded.batches.items():
            if not self.join.expects_labels(model_id):
                refused += [
                    BadEvent(
                        int(p),
                        "labels_not_expected",
                        f"model {model_id!r} has no labels topic configured",
                    )
                    for p in batch.positions
                ]
                continue
            refused += self.join.add_labels(source, batch)
        self._detect(join_key(source))
        if next_offset is not None:
            self.offsets[source] = next_offset
        return refused

    def _detect(self, key: str) -> None:
        """Feed the errors of newly joined labels to each model version's concept-drift detector
        (one per partition, so the result does not depend on which process owns it)."""
        for (model_id, version), errors in self.join.take_errors().items():
            method = self.config.models[model_id].labels.concept_drift
            if method == "none" or not errors:
                continue
            dk = (key, model_id, version)
            if dk not in self.detectors:
                self.detectors[dk] = (0, ConceptDriftMonitor(method))
            start, detector = self.detectors[dk]
            values = np.array([e for e, _ in errors], np.float64)
            times = np.array([t for _, t in errors], np.int64)
            self.detectors[dk] = (start + len(values), detector)
            for detection in detector.update_many(
                values, np.arange(start, start + len(values)), times
            ):
                self._state.detections.append((model_id, version, detection))
                log.info(
                    "concept drift in %s %s (%s) at label %d",
                    model_id,
                    version,
                    detection.method,
                    detection.position,
                )
            self._dirty_detectors.add(dk)

    def classes(self, model_id: str, version: str) -> tuple[str, ...]:
        """The class list of a classifier: configured, else the reference's prediction
        vocabulary (and the positive class), else ("0", "1")."""
        cfg = self.config.models[model_id]
        if cfg.labels.classes:
            return tuple(cfg.labels.classes)
        geo = self.geometry(model_id, version)
        prof = geo.reference.columns.get(PREDICTION) if geo is not None else None
        vocab = tuple(sorted(prof.vocab)) if prof is not None and prof.kind == "categorical" else ()
        if cfg.labels.positive_class not in vocab and len(vocab) < 2:
            vocab = tuple(sorted({*vocab, "0", "1"} | {cfg.labels.positive_class}))
        return vocab if len(vocab) >= 2 else ("0", "1")

    def _admit_times(self, source: str, decoded: Decoded) -> tuple[Decoded, list[BadEvent]]:
        """Refuse the events whose timestamps the feeder's :class:`EventTimeGuard` rejects,
        before they can move the source's watermark."""
        batches, ts, order = _source_order(decoded)
        start = self.watermarks.get(source)
        codes, self._ahead[source] = self.time_guard.admit(ts, start, self._ahead.get(source, 0))
        if not codes.any():
            return decoded, []
        prior = self.time_guard.watermarks(ts, codes, start)
        if order is not None:  # back to the batches' concatenated order
            codes, prior = _unsort(codes, order), _unsort(prior, order)
        refused, kept, at = [], {}, 0
        for b in batches:
            mine, marks = codes[at : at + len(b)], prior[at : at + len(b)]
            at += len(b)
            bad = np.flatnonzero(mine != OK)
            describe = self.time_guard.describe
            refused += [
                BadEvent(
                    int(b.positions[i]),
                    "timestamp_out_of_range",
                    describe(int(mine[i]), int(b.timestamps[i]), int(marks[i])),
                )
                for i in bad.tolist()
            ]
            if bad.size < len(b):
                kept[b.model_id] = b if not bad.size else b.take(np.flatnonzero(mine == OK))
        return replace(decoded, batches=kept), refused

    def _admit_version(self, model_id: str, version: str) -> bool:
        """Whether events of ``version`` may open state: it has some already, or the model has
        fewer than ``max_versions`` versions with open state (bounded memory, series and rows
        whatever a producer sends)."""
        active = self._active.setdefault(model_id, set())
        if version in active:
            return True
        active.clear()
        active.update(self._active_versions(model_id))
        if version in active or len(active) < self.config.models[model_id].max_versions:
            active.add(version)
            return True
        return False

    def _active_versions(self, model_id: str) -> set[str]:
        """Versions of ``model_id`` with panes or baseline events held in this engine."""
        versions = {split(k[2])[0] for k in self.panes if k[1] == model_id and k[0] != PREVIOUS}
        return versions | {v for (m, v) in self._baseline if m == model_id}

    def _watermarks_before(self, source: str, decoded: Decoded) -> dict[str, np.ndarray]:
        """Per model, the source watermark just before each event (prefix maximum in source
        order, starting from the checkpointed watermark); advances the source's watermark."""
        start = self.watermarks.get(source, np.iinfo(np.int64).min)
        batches, ts, order = _source_order(decoded)
        running = np.maximum.accumulate(np.concatenate([[start], ts]))
        self.watermarks[source] = int(running[-1])
        prior = running[:-1]
        if order is None:
            return {batches[0].model_id: prior}
        unsorted = _unsort(prior, order)
        out, at = {}, 0
        for b in batches:
            out[b.model_id] = unsorted[at : at + len(b)]
            at += len(b)
        return out

    def _version(
        self, source: str, model_id: str, version: str, given: ModelBatch, seen: np.ndarray
    ) -> list[BadEvent]:
        batch = self._drop_late(model_id, version, given, seen)
        if batch is None:
            return []
        geo = self.geometry(model_id, version)
        if geo is not None:
            self._sketch(source, model_id, version, geo, batch, baseline=False)
            return []
        wanted = self.config.models[model_id].reference.baseline_events
        if wanted == 0:
            return [
                BadEvent(
                    int(p),
                    "no_reference",
                    f"no reference profile for model {model_id!r} version {version!r}",
                )
                for p in batch.positions
            ]
        held = self._baseline.setdefault((model_id, version), [])
        held.append((source, batch))
        self._held_dirty.add((source, model_id, version))
        if sum(len(b) for _, b in held) >= wanted:
            self._build_baseline(model_id, version)
        return []

    def _build_baseline(self, model_id: str, version: str) -> None:
        held = self._baseline.pop((model_id, version))
        cfg = self.config.models[model_id]
        rows = _rows(self.layouts[model_id], cfg.segments.keys, held)
        profile = ReferenceProfile.for_model(model_id, version, cfg, rows, source="baseline")
        self.references.save_reference(profile)
        log.info(
            "built the baseline reference of %s %s from its first %d events",
            model_id,
            version,
            profile.rows,
        )
        geo = self.geometry(model_id, version)
        assert geo is not None
        for source, batch in held:
            self._sketch(source, model_id, version, geo, batch, baseline=True)
            key = (f"{BASELINE}|{source}", model_id, version, 0)
            self._held_dirty.discard((source, model_id, version))
            self._state.panes.pop(key, None)
            self._state.deleted.add(key)

    def held_floor(self, model_id: str) -> int | None:
        """The earliest pane of events held for a baseline of ``model_id`` (windows from there
        on must wait for the baseline)."""
        panes = [
            int(b.timestamps.min())
            for (m, _), held in self._baseline.items()
            if m == model_id
            for _, b in held
        ]
        return int(self.specs[model_id].pane_of(np.array([min(panes)]))[0]) if panes else None

    def geometry(self, model_id: str, pop: str) -> Geometry | None:
        """The bins of a population (a model version or one of its segments); None while the
        version has no reference."""
        key = (model_id, pop)
        if key not in self._geometry:
            version, _ = split(pop)
            profile = self.references.get_reference(model_id, version)
            if profile is None:
                return None
            self.use_reference(version, profile)
        return self._geometry.get(key)

    def has_geometry(self, model_id: str, version: str) -> bool:
        return (model_id, version) in self._geometry

    def use_reference(self, version: str, profile: ReferenceProfile) -> None:
        """Use ``profile`` for ``version`` of its model and its segments (a profile found by
        another path, e.g. read inside a checkpoint transaction)."""
        layout = self.layouts[profile.model_id]
        self._geometry[(profile.model_id, version)] = Geometry.build(layout, profile)
        self._plans[(profile.model_id, version)] = profile.plan
        lacking = [
            k
            for k in self.config.models[profile.model_id].segments.keys
            if k not in profile.segments
        ]
        if lacking:  # a reference built before the keys were configured: no segments until rebuilt
            log.warning(
                (
                    "reference %d of %s %s has no segments of %s (segments.keys): those "
                    "segments are not monitored until the reference is rebuilt"
                ),
                profile.version,
                profile.model_id,
                version,
                lacking,
            )
        for key, by_value in profile.segments.items():
            for value, sub in by_value.items():
                self._geometry[(profile.model_id, population(version, f"{key}={value}"))] = (
                    Geometry.build(layout, sub)
                )

    def plan(self, model_id: str, version: str) -> SegmentPlan:
        """The monitored segments of a model version (none before it has a reference)."""
        if self.geometry(model_id, version) is None:
            return SegmentPlan({})
        return self._plans[(model_id, version)]

    def _drop_late(
        self, model_id: str, version: str, batch: ModelBatch, seen: np.ndarray
    ) -> ModelBatch | None:
        """Count and drop late events (see :meth:`process`); None when nothing is left."""
        spec = self.specs[model_id]
        panes = spec.pane_of(batch.timestamps)
        late = spec.origin_ms + (panes + 1) * spec.slide_ms + spec.lateness_ms <= seen
        if not late.any():
            return batch
        for pane, count in zip(*np.unique(panes[late], return_counts=True)):
            self._state.late[(model_id, version, spec.origin_ms + int(pane) * spec.slide_ms)] += (
                int(count)
            )
        self.late_by_model[model_id] += int(late.sum())
        self._report_late(model_id, spec)
        keep = np.flatnonzero(~late)
        return batch.take(keep) if keep.size else None

    def _report_late(self, model_id: str, spec: WindowSpec) -> None:
        """Late drops are loud: a warning at the first, then at most one a minute per model
        with the count since the last one (each is also counted per window in SQL)."""
        now = time.monotonic()
        when, logged = self._late_logged.get(model_id, (-_LATE_LOG_EVERY_S, 0))
        if now - when < _LATE_LOG_EVERY_S:
            return
        total = self.late_by_model[model_id]
        log.warning(
            "model %s: %d event(s) arrived after their window had closed (allowed_lateness %d s) "
            "and were dropped; %d in all by this process (late_events, the late column of "
            "monitor windows)",
            model_id,
            total - logged,
            spec.lateness_ms // 1000,
            total,
        )
        self._late_logged[model_id] = (now, total)

    def _sketch(
        self,
        source: str,
        model_id: str,
        version: str,
        geo: Geometry,
        batch: ModelBatch,
        baseline: bool,
    ) -> None:
        self._sketch_population(source, model_id, version, geo, batch, baseline)
        if not batch.segments:
            return
        plan = self.plan(model_id, version)
        for key in plan.values:
            names, codes = plan.codes([s.get(key) if s else None for s in batch.segments], key)
            for code in np.unique(codes[codes >= 0]).tolist():
                pop = population(version, f"{key}={names[code]}")
                sub = self.geometry(model_id, pop)
                assert sub is not None, "a version's geometry brings its segments'"
                self._sketch_population(
                    source, model_id, pop, sub, batch.take(np.flatnonzero(codes == code)), baseline
                )

    def _sketch_population(
        self, source: str, model_id: str, pop: str, geo: Geometry, batch: ModelBatch, baseline: bool
    ) -> None:
        spec = self.specs[model_id]
        uniq, group = groups(spec.pane_of(batch.timestamps))
        for pane, sketch in zip(uniq.tolist(), accumulate(geo, batch, group, len(uniq))):
            sketch.baseline = baseline
            key = (source, model_id, pop, pane)
            if key in self.panes:
                self.panes[key].merge(sketch)
            else:
                self.panes[key] = sketch
            self._dirty(key)

    def _dirty(self, key: PaneKey) -> None:
        self._state.deleted.discard(key)
        self._state.panes[key] = b""  # serialised at drain time, once per checkpoint

    # -- closing -----------------------------------------------------------------------------
    def watermark(self) -> int | None:
        """The event time every source has reached (the minimum of their watermarks)."""
        return min(self.watermarks.values()) if self.watermarks else None

    def close(self, watermark: int | None) -> list[ClosedWindow]:
        """Close and evaluate every window that ``watermark`` passed (end + allowed lateness)."""
        if watermark is None:
            return []
        closed: list[ClosedWindow] = []
        for model_id, spec in self.specs.items():
            upto = spec.closable(watermark)
            floor = self.held_floor(model_id)
            closed += self._close_model(
                model_id, spec, upto if floor is None else min(upto, floor - 1)
            )
        return closed

    def flush(self) -> list[ClosedWindow]:
        """Close every window that holds data (the end of a finite stream)."""
        closed: list[ClosedWindow] = []
        for model_id, version in list(self._baseline):
            self._build_baseline(model_id, version)  # a short stream: what we have is the baseline
        for model_id, spec in self.specs.items():
            data = [k[3] for k in self.panes if k[1] == model_id and k[0] != PREVIOUS]
            if data:
                closed += self._close_model(model_id, spec, max(data) + spec.panes - 1)
        return closed

    def _close_model(self, model_id: str, spec: WindowSpec, upto: int) -> list[ClosedWindow]:
        frontier = self.frontiers.get(model_id)
        if frontier is not None and upto <= frontier:
            return []
        panes: dict[tuple[str, int], list[Sketch]] = {}
        for (source, m, v, p), sketch in self.panes.items():
            if m == model_id and source != PREVIOUS:
                panes.setdefault((v, p), []).append(sketch)
        previous = {k[2]: s for k, s in self.panes.items() if k[0] == PREVIOUS and k[1] == model_id}
        closed = self.close_windows(model_id, panes, frontier, upto, previous)
        for version, sketch in previous.items():
            self.panes[(PREVIOUS, model_id, version, 0)] = sketch
            self._dirty((PREVIOUS, model_id, version, 0))
        self._state.deleted.update(self.prune(model_id, upto))
        self._state.windows += closed
        return closed

    def close_windows(
        self,
        model_id: str,
        panes: dict[tuple[str, int], list[Sketch]],
        frontier: int | None,
        upto: int,
        previous: dict[str, Sketch],
    ) -> list[ClosedWindow]:
        """Evaluate the windows after ``frontier`` up to ``upto`` from ``panes`` ((population,
        pane) -> sketches of every source); each version's window carries its segments'.
        ``previous`` (population -> last closed window) is updated in place when the model
        compares consecutive windows. Pure with respect to the engine's own panes: the caller
        decides where panes come from (memory or SQL)."""
        spec = self.specs[model_id]
        by_pop: dict[str, dict[int, list[Sketch]]] = {}
        for (pop, pane), sketches in panes.items():
            by_pop.setdefault(pop, {})[pane] = sketches
        segments_of: dict[str, list[str]] = {}
        for pop in sorted(by_pop):
            version, segment = split(pop)
            segments_of.setdefault(version, [])
            if segment:
                segments_of[version].append(pop)
        closed = []
        for version, pops in segments_of.items():
            # Every segment event is also a version event: the version's windows are all there is.
            for end in windows_to_close(spec, by_pop.get(version, {}), frontier, upto):
                started = time.perf_counter()
                window = self._evaluate(
                    model_id, version, spec, end, by_pop.get(version, {}), previous
                )
                children = [
                    self._evaluate(model_id, pop, spec, end, by_pop[pop], previous)
                    for pop in pops
                    if any(p in by_pop[pop] for p in spec.window_panes(end))
                ]
                closed.append(
                    replace(window, close_seconds=time.perf_counter() - started, segments=children)
                )
        for window in closed:
            for callback in self.on_close:
                callback(window)
        return closed

    def prune(self, model_id: str, upto: int) -> list[PaneKey]:
        """Forget local panes whose windows have all closed (up to window end pane ``upto``);
        returns their keys."""
        k = self.specs[model_id].panes
        pruned = [
            key
            for key in self.panes
            if key[1] == model_id and key[0] != PREVIOUS and key[3] + k - 1 <= upto
        ]
        for key in pruned:
            del self.panes[key]
            self._state.panes.pop(key, None)
        self.frontiers[model_id] = max(upto, self.frontiers.get(model_id, upto))
        return pruned

    def _evaluate(
        self,
        model_id: str,
        pop: str,
        spec: WindowSpec,
        end: int,
        panes: dict[int, list[Sketch]],
        previous: dict[str, Sketch],
    ) -> ClosedWindow:
        """The window of one population ending at pane ``end``; when the model compares
        consecutive windows, this one becomes ``previous[pop]``."""
        geo = self.geometry(model_id, pop)
        assert geo is not None, "panes exist only for versions with a reference"
        window = Sketch.empty(geo)
        for p in spec.window_panes(end):
            for sketch in panes.get(p, ()):
                window.merge(sketch)
        cfg = self.config.models[model_id]
        columns, dataset = evaluate(cfg, geo, window, previous.get(pop))
        if cfg.compare_previous:
            previous[pop] = window
        start, stop = spec.bounds(end)
        version, segment = split(pop)
        reference_version = self.geometry(model_id, version).reference.version  # type: ignore[union-attr]
        return ClosedWindow(
            model_id, version, start, stop, reference_version, columns, dataset, segment=segment
        )

    # -- checkpoint --------------------------------------------------------------------------
    def drain(self) -> EngineState:
        """Everything changed since the last drain, with panes serialised; resets the deltas."""
        state = self._state
        state.panes = {k: self.panes[k].to_bytes() for k in state.panes if k in self.panes}
        state.offsets = dict(self.offsets)
        state.watermarks = dict(self.watermarks)
        state.frontiers = dict(self.frontiers)
        state.idle = dict(self.idle)
        for source, model_id, version in self._held_dirty:
            batches = [
                b.to_bytes() for s, b in self._baseline.get((model_id, version), []) if s == source
            ]
            state.panes[(f"{BASELINE}|{source}", model_id, version, 0)] = msgspec.msgpack.encode(
                batches
            )
        self._held_dirty = set()
        state.join = self.join.drain()
        for key, model_id, version in self._dirty_detectors:
            seen, detector = self.detectors[(key, model_id, version)]
            state.join.panes[(key, model_id, version, DETECTOR_PANE)] = msgspec.msgpack.encode(
                [seen, detector.to_bytes()]
            )
        self._dirty_detectors = set()
        self._state = EngineState()
        return state

    def restore(self, state: EngineState) -> None:
        """Load checkpointed state (panes, positions, watermarks, frontiers) of the sources in
        ``state``, next to what the engine already holds for other sources."""
        for key, blob in state.panes.items():
            if key[0].startswith(BASELINE):
                source = key[0].split("|", 1)[1]
                if source in state.offsets:
                    held = self._baseline.setdefault((key[1], key[2]), [])
                    held += [
                        (source, ModelBatch.from_bytes(b)) for b in msgspec.msgpack.decode(blob)
                    ]
            else:
                self.panes[key] = Sketch.from_bytes(blob)
        self.offsets.update(state.offsets)
        self.watermarks.update(state.watermarks)
        for model_id, pane in state.frontiers.items():
            self.frontiers[model_id] = max(pane, self.frontiers.get(model_id, pane))

    def restore_performance(self, panes: list[tuple[tuple[str, str, str, int], bytes]]) -> None:
        """Load checkpointed performance panes and concept-drift detectors."""
        for (key, model_id, version, pane), blob in panes:
            if pane == DETECTOR_PANE:
                seen, detector = msgspec.msgpack.decode(blob)
                self.detectors[(key, model_id, version)] = (
                    seen,
                    ConceptDriftMonitor.from_bytes(detector),
                )
            else:
                self.join.panes[(key, model_id, version, pane)] = PerformancePane.from_bytes(blob)

    def forget(self, sources: set[str]) -> None:
        """Drop the in-memory state of sources this process no longer owns (a revoked partition)."""
        keys = {join_key(s) for s in sources}
        self.join.forget(keys)
        for dk in [dk for dk in self.detectors if dk[0] in keys]:
            del self.detectors[dk]
        for key in [k for k in self.panes if k[0] in sources]:
            del self.panes[key]
        for version_key, held in list(self._baseline.items()):
            self._baseline[version_key] = [(s, b) for s, b in held if s not in sources]
            if not self._baseline[version_key]:
                del self._baseline[version_key]
        for source in sources:
            self.offsets.pop(source, None)
            self.watermarks.pop(source, None)
            self.idle.pop(source, None)
            self._ahead.pop(source, None)
            self._state.offsets.pop(source, None)


def _source_order(decoded: Decoded) -> tuple[list[ModelBatch], np.ndarray, np.ndarray | None]:
    """The batches, their timestamps in source order, and the order that sorts the batches'
    concatenated events into source order (None for a single batch: already in order)."""
    batches = list(decoded.batches.values())
    if len(batches) == 1:
        return batches, batches[0].timestamps, None
    positions = np.concatenate([b.positions for b in batches])
    order = np.argsort(positions, kind="stable")
    return batches, np.concatenate([b.timestamps for b in batches])[order], order


def _unsort(values: np.ndarray, order: np.ndarray) -> np.ndarray:
    """``values`` in source order back in the order ``order`` sorted."""
    out = np.empty_like(values)
    out[order] = values
    return out


def _by_version(batch: ModelBatch) -> list[tuple[str, ModelBatch]]:
    versions = batch.versions
    first = versions[0]
    if versions.count(first) == len(versions):
        return [(first, batch)]
    names, inverse = np.unique(np.array(versions, dtype=object), return_inverse=True)
    return [(str(v), batch.take(np.flatnonzero(inverse == i))) for i, v in enumerate(names)]


def _rows(
    layout: Layout, segment_keys: tuple[str, ...], held: list[tuple[str, ModelBatch]]
) -> dict[str, list | np.ndarray]:
    """The held baseline events as reference rows (prediction events only for prediction
    columns), with a column per segment key."""
    batches = [b for _, b in held]
    numeric = np.concatenate([b.numeric for b in batches])
    has_pred = np.concatenate([b.has_prediction for b in batches])
    rows: dict[str, list | np.ndarray] = {}
    for j, name in enumerate(layout.numeric):
        col = numeric[:, j]
        rows[name] = col[has_pred] if name in ("score", "prediction") else col
    for j, name in enumerate(layout.categorical):
        values = [v for b in batches for v in b.categorical[j]]
        rows[name] = [v for v, p in zip(values, has_pred) if p] if name == "prediction" else values
    for key in segment_keys:
        rows[key] = [
            s.get(key) if s else None for b in batches for s in (b.segments or [None] * len(b))
        ]
    return rows
