"""The engine: the one entry point every feeder uses.

A feeder (the Kafka consumer, a file replay, a test) hands the engine batches of decoded events
from one *source* (a partition, a file) together with the position after the batch, then tells it
how far event time has progressed. The engine sketches events into per-source panes, closes the
windows the watermark has passed, and evaluates them. Nothing here knows where events came from.

Which windows close, and when, is the pipeline's (:mod:`monitor.pipeline.closing`): the engine
evaluates the windows it is given (:meth:`Engine.evaluate_windows`). State that must survive a
restart (panes, positions, watermarks, frontiers, late counts, held baseline events, detectors,
closed windows not yet persisted) is drained with :meth:`Engine.drain` and written by the
checkpoint (:mod:`monitor.pipeline.checkpoint`); :meth:`Engine.restore` puts it back.

Its parts: :mod:`~monitor.engine.state` (the state types), :mod:`~monitor.engine.clock`
(watermarks and lateness), :mod:`~monitor.engine.baseline` (production baselines) and
:mod:`~monitor.engine.detectors` (concept drift).

>>> from monitor.config import parse_config
>>> from monitor.events import EventDecoder
>>> from monitor.engine import MemoryReferences
>>> from monitor.pipeline.closing import close, flush
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
>>> [(w.start_ms, w.end_ms, w.dataset.events) for w in close(engine, engine.watermark())]
[(0, 1000, 100), (1000, 2000, 100)]
>>> [(w.start_ms, w.columns[0].severity) for w in flush(engine)]
[(2000, 'critical')]
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace
from typing import NamedTuple

import numpy as np

from monitor.config import Config
from monitor.drift import ColumnResult, DatasetResult, Judged, evaluate_many
from monitor.engine.baseline import Baselines, is_held, reference_rows
from monitor.engine.clock import EventClock
from monitor.engine.detectors import Detectors
from monitor.engine.state import (
    PREVIOUS,
    ClosedWindow,
    EngineState,
    PaneKey,
    ReferenceSource,
    ToClose,
)
from monitor.event_time import EventTimeGuard
from monitor.events import BadEvent, Decoded, DecodedLabels, ModelBatch
from monitor.join import LabelJoin, join_key
from monitor.layout import PREDICTION, SCORE, Layout
from monitor.performance.pane import PerformancePane
from monitor.performance.record import Record
from monitor.reference import ReferenceProfile
from monitor.segments import SegmentPlan, population, split
from monitor.sketches import Geometry, Sketch, accumulate, groups
from monitor.values import categories
from monitor.windows import WindowSpec, windows_to_close

__all__ = ["Engine", "Lookup"]

log = logging.getLogger(__name__)

#: Finds join records not in memory: (join key, prediction ids) -> records by id
Lookup = Callable[[str, list[str]], dict[str, Record]]


def _nothing_stored(key: str, ids: list[str]) -> dict[str, Record]:
    return {}


class Engine:
    """Sketch batches into panes, join labels, evaluate windows."""

    def __init__(
        self,
        config: Config,
        references: ReferenceSource,
        labels: bool = False,
        time_guard: EventTimeGuard | None = None,
        lookup: Lookup = _nothing_stored,
    ) -> None:
        """``labels``: every model expects labels (a replay with label files); otherwise the
        models with a labels topic do. ``time_guard``: the event-time bounds of the feeder
        (default: the live ones, :meth:`EventTimeGuard.live`). ``lookup``: where the label
        join finds records it no longer holds in memory (the SQL store; none by default)."""
        self.config = config
        self.references = references
        self.layouts = {m: Layout.from_model(c) for m, c in config.models.items()}
        self.specs = {m: WindowSpec.of(c) for m, c in config.models.items()}
        self.clock = EventClock(self.specs, time_guard or EventTimeGuard.live(config.event_time))
        self.baselines = Baselines(self.specs)
        self.detectors = Detectors(config)
        self.panes: dict[PaneKey, Sketch] = {}
        self.offsets: dict[str, int] = {}
        self.frontiers: dict[str, int] = {}
        #: source -> wall-clock ms since when it has been caught up and silent (set by feeders)
        self.idle: dict[str, int | None] = {}
        #: model -> versions with open state here (a cache of :meth:`_active_versions`)
        self._active: dict[str, set[str]] = {}
        self._geometry: dict[tuple[str, str], Geometry] = {}  # (model, population) -> bins
        self._plans: dict[tuple[str, str], SegmentPlan] = {}
        self.join = LabelJoin(
            config, lookup=lookup, classes=self.classes, plan=self.plan, every_model=labels
        )
        self._state = EngineState()

    @property
    def late_by_model(self) -> dict[str, int]:
        """Late events dropped by this process, per model."""
        return self.clock.late_by_model

    def watermark(self) -> int | None:
        """The event time every source has reached (the minimum of their watermarks)."""
        return self.clock.watermark()

    # -- feeding -----------------------------------------------------------------------------
    def process(
        self, source: str, decoded: Decoded, next_offset: int | None = None
    ) -> list[BadEvent]:
        """Sketch one decoded batch from ``source``; returns the events refused (out of bounds
        in event time, no reference, too many versions). Late events are counted and dropped
        (:mod:`monitor.engine.clock`)."""
        refused: list[BadEvent] = []
        if decoded.batches:
            decoded, refused = self.clock.admit(source, decoded)
        if not decoded.batches:
            if next_offset is not None:
                self.offsets[source] = next_offset
            return refused
        before = self.clock.advance(source, decoded)
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
        self.detectors.feed(join_key(source), self.join.take_errors())
        if next_offset is not None:
            self.offsets[source] = next_offset
        return refused

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
        return versions | self.baselines.versions(model_id)

    def _version(
        self, source: str, model_id: str, version: str, given: ModelBatch, seen: np.ndarray
    ) -> list[BadEvent]:
        batch = self.clock.drop_late(model_id, version, given, seen)
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
        if self.baselines.hold(source, model_id, version, batch) >= wanted:
            self.build_baseline(model_id, version)
        return []

    def build_baseline(self, model_id: str, version: str) -> None:
        """Build the version's reference from the events held for it, and sketch them."""
        held, keys = self.baselines.take(model_id, version)
        cfg = self.config.models[model_id]
        rows = reference_rows(self.layouts[model_id], cfg.segments.keys, held)
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
        self.mark_deleted(keys)

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
            self.mark_dirty(key)

    def mark_dirty(self, key: PaneKey) -> None:
        """The pane ``key`` changed: the next drain serialises it."""
        self._state.deleted.discard(key)
        self._state.panes[key] = b""  # serialised at drain time, once per checkpoint

    def mark_deleted(self, keys: set[PaneKey]) -> None:
        """The checkpointed panes ``keys`` are no longer needed: the next checkpoint deletes
        them."""
        for key in keys:
            self._state.panes.pop(key, None)
        self._state.deleted.update(keys)

    def closed(self, windows: list[ClosedWindow]) -> None:
        """Windows closed from memory: the next checkpoint writes them."""
        self._state.windows += windows

    # -- references and segments -----------------------------------------------------------
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

    # -- evaluating --------------------------------------------------------------------------
    def evaluate_windows(self, models: list[ToClose]) -> list[list[ClosedWindow]]:
        """Evaluate each model's windows to close (its :class:`ToClose`), every window of all
        of them at once (:func:`monitor.drift.evaluate_many`); each version's window carries
        its segments'. Pure with respect to the engine's own panes: the caller decides where
        panes come from (memory or SQL, :mod:`monitor.pipeline.closing`)."""
        started = time.perf_counter()
        judged: list[Judged] = []
        planned: list[list[tuple[_Window, list[_Window]]]] = []
        for m in models:
            spec = self.specs[m.model_id]
            by_pop: dict[str, dict[int, list[Sketch]]] = {}
            for (pop, pane), sketches in m.panes.items():
                by_pop.setdefault(pop, {})[pane] = sketches
            segments_of: dict[str, list[str]] = {}
            for pop in sorted(by_pop):
                version, segment = split(pop)
                segments_of.setdefault(version, [])
                if segment:
                    segments_of[version].append(pop)
            windows = []
            for version, pops in segments_of.items():
                # Every segment event is also a version event: the version's windows are all
                # there is.
                for end in windows_to_close(spec, by_pop.get(version, {}), m.frontier, m.upto):
                    window = self._window(m, version, end, by_pop.get(version, {}), judged)
                    children = [
                        self._window(m, pop, end, by_pop[pop], judged)
                        for pop in pops
                        if any(p in by_pop[pop] for p in spec.window_panes(end))
                    ]
                    windows.append((window, children))
            planned.append(windows)
        results = evaluate_many(judged)
        # each window's share of the time, with its segments'
        share = (time.perf_counter() - started) / max(len(judged), 1)
        return [
            [
                replace(
                    self._closed(window, results),
                    close_seconds=share * (1 + len(children)),
                    segments=[self._closed(c, results) for c in children],
                )
                for window, children in windows
            ]
            for windows in planned
        ]

    def _window(
        self,
        m: ToClose,
        pop: str,
        end: int,
        panes: dict[int, list[Sketch]],
        judged: list[Judged],
    ) -> _Window:
        """Merge the window of one population ending at pane ``end`` and add it to ``judged``;
        when the model compares consecutive windows, it becomes ``m.previous[pop]``."""
        geo = self.geometry(m.model_id, pop)
        assert geo is not None, "panes exist only for versions with a reference"
        spec = self.specs[m.model_id]
        window = Sketch.empty(geo)
        for p in spec.window_panes(end):
            for sketch in panes.get(p, ()):
                window.merge(sketch)
        cfg = self.config.models[m.model_id]
        judged.append((cfg, geo, window, m.previous.get(pop)))
        if cfg.compare_previous:
            m.previous[pop] = window
        return _Window(m.model_id, pop, end, len(judged) - 1)

    def _closed(
        self, w: _Window, results: list[tuple[list[ColumnResult], DatasetResult]]
    ) -> ClosedWindow:
        columns, dataset = results[w.slot]
        start, stop = self.specs[w.model_id].bounds(w.end)
        version, segment = split(w.pop)
        reference = self.geometry(w.model_id, version).reference  # type: ignore[union-attr]
        return ClosedWindow(
            w.model_id, version, start, stop, reference.version, columns, dataset, segment=segment
        )

    def prune(self, model_id: str, upto: int) -> set[PaneKey]:
        """Forget local panes whose windows have all closed (up to window end pane ``upto``)
        and move the model's frontier there; returns their keys."""
        k = self.specs[model_id].panes
        pruned = {
            key
            for key in self.panes
            if key[1] == model_id and key[0] != PREVIOUS and key[3] + k - 1 <= upto
        }
        for key in pruned:
            del self.panes[key]
            self._state.panes.pop(key, None)
        self.frontiers[model_id] = max(upto, self.frontiers.get(model_id, upto))
        return pruned

    # -- checkpoint --------------------------------------------------------------------------
    def drain(self) -> EngineState:
        """Everything changed since the last drain, with panes serialised; resets the deltas."""
        state = self._state
        state.panes = {k: self.panes[k].to_bytes() for k in state.panes if k in self.panes}
        state.panes.update(self.baselines.drain())
        state.late = self.clock.take_late()
        state.offsets = dict(self.offsets)
        state.watermarks = dict(self.clock.watermarks)
        state.frontiers = dict(self.frontiers)
        state.idle = dict(self.idle)
        state.join = self.join.drain()
        state.detections = self.detectors.take_detections()
        state.detectors = self.detectors.drain()
        self._state = EngineState()
        return state

    def restore(self, state: EngineState) -> None:
        """Load checkpointed state (panes, positions, watermarks, frontiers) of the sources in
        ``state``, next to what the engine already holds for other sources."""
        for key, blob in state.panes.items():
            if is_held(key[0]):
                self.baselines.restore(key, blob, state.offsets)
            else:
                self.panes[key] = Sketch.from_bytes(blob)
        self.offsets.update(state.offsets)
        self.clock.watermarks.update(state.watermarks)
        for model_id, pane in state.frontiers.items():
            self.frontiers[model_id] = max(pane, self.frontiers.get(model_id, pane))

    def restore_join(
        self,
        panes: list[tuple[tuple[str, str, str, int], bytes]],
        detectors: list[tuple[tuple[str, str, str], int, bytes]],
    ) -> None:
        """Load checkpointed performance panes and concept-drift detectors."""
        for key, blob in panes:
            self.join.panes[key] = PerformancePane.from_bytes(blob)
        self.detectors.restore(detectors)

    def forget(self, sources: set[str]) -> None:
        """Drop the in-memory state of sources this process no longer owns (a revoked partition)."""
        keys = {join_key(s) for s in sources}
        self.join.forget(keys)
        self.detectors.forget(keys)
        for key in [k for k in self.panes if k[0] in sources]:
            del self.panes[key]
        self.baselines.forget(sources)
        self.clock.forget(sources)
        for source in sources:
            self.offsets.pop(source, None)
            self.idle.pop(source, None)
            self._state.offsets.pop(source, None)


class _Window(NamedTuple):
    """A window in :meth:`Engine.evaluate_windows`: its population, end pane and index in
    the windows evaluated together (``slot``)."""

    model_id: str
    pop: str
    end: int
    slot: int


def _by_version(batch: ModelBatch) -> list[tuple[str, ModelBatch]]:
    versions = batch.versions
    first = versions[0]
    if versions.count(first) == len(versions):
        return [(first, batch)]
    names, inverse = np.unique(np.array(versions, dtype=object), return_inverse=True)
    return [(str(v), batch.take(np.flatnonzero(inverse == i))) for i, v in enumerate(names)]
