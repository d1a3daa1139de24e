"""Event time per source: the feeder's event-time bounds, watermarks, and late events.

An event is late when the watermark of its own source, as it stood just before the event, had
passed the end of the event's pane plus the allowed lateness. Because that depends only on the
source's own order of events, a replay, a restart or a rebalance classifies every event the
same way.

>>> from monitor.config import parse_config
>>> from monitor.event_time import EventTimeGuard
>>> from monitor.windows import WindowSpec
>>> cfg = parse_config({"models": {"m": {"features": {"x": {"kind": "numeric"}},
...                    "window": "1s"}}})
>>> clock = EventClock({"m": WindowSpec.of(cfg.models["m"])}, EventTimeGuard.replay(cfg.event_time))
>>> clock.watermark() is None
True
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import replace

import numpy as np

from monitor.event_time import OK, EventTimeGuard
from monitor.events import BadEvent, Decoded, ModelBatch
from monitor.windows import WindowSpec

__all__ = ["EventClock"]

log = logging.getLogger(__name__)

#: Late drops are logged at most this often per model.
_LATE_LOG_EVERY_S = 60.0


class EventClock:
    """Watermarks of the sources one engine reads, and the events that came too late."""

    def __init__(self, specs: Mapping[str, WindowSpec], guard: EventTimeGuard) -> None:
        self.specs = specs
        self.guard = guard
        self.watermarks: dict[str, int] = {}
        #: late events since the last :meth:`take_late`: (model, version, pane start ms) -> n
        self.late: Counter[tuple[str, str, int]] = Counter()
        #: late events seen by this process, per model (for metrics and the replay report)
        self.late_by_model: Counter[str] = Counter()
        self._late_logged: dict[str, tuple[float, int]] = {}  # model -> (when, late count then)
        self._ahead: dict[str, int] = {}  # source -> events in a row ahead of its watermark

    def watermark(self) -> int | None:
        """The event time every source has reached (the minimum of their watermarks)."""
        return min(self.watermarks.values()) if self.watermarks else None

    def admit(self, source: str, decoded: Decoded) -> tuple[Decoded, list[BadEvent]]:
        """Refuse the events whose timestamps the feeder's :class:`EventTimeGuard` rejects,
        before they can move the source's watermark."""
        batches, ts, order = _source_order(decoded)
        start = self.watermarks.get(source)
        codes, self._ahead[source] = self.guard.admit(ts, start, self._ahead.get(source, 0))
        if not codes.any():
            return decoded, []
        prior = self.guard.watermarks(ts, codes, start)
        if order is not None:  # back to the batches' concatenated order
            codes, prior = _unsort(codes, order), _unsort(prior, order)
        refused, kept, at = [], {}, 0
        for b in batches:
            mine, marks = codes[at : at + len(b)], prior[at : at + len(b)]
            at += len(b)
            bad = np.flatnonzero(mine != OK)
            refused += [
                BadEvent(
                    int(b.positions[i]),
                    "timestamp_out_of_range",
                    self.guard.describe(int(mine[i]), int(b.timestamps[i]), int(marks[i])),
                )
                for i in bad.tolist()
            ]
            if bad.size < len(b):
                kept[b.model_id] = b if not bad.size else b.take(np.flatnonzero(mine == OK))
        return replace(decoded, batches=kept), refused

    def advance(self, source: str, decoded: Decoded) -> dict[str, np.ndarray]:
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

    def drop_late(
        self, model_id: str, version: str, batch: ModelBatch, seen: np.ndarray
    ) -> ModelBatch | None:
        """Count and drop the late events of ``batch`` (``seen``: the watermark before each);
        None when nothing is left."""
        spec = self.specs[model_id]
        panes = spec.pane_of(batch.timestamps)
        late = spec.pane_end_ms(panes) + spec.lateness_ms <= seen
        if not late.any():
            return batch
        for pane, count in zip(*np.unique(panes[late], return_counts=True)):
            self.late[(model_id, version, spec.pane_start_ms(int(pane)))] += int(count)
        self.late_by_model[model_id] += int(late.sum())
        self._report_late(model_id, spec)
        keep = np.flatnonzero(~late)
        return batch.take(keep) if keep.size else None

    def take_late(self) -> Counter[tuple[str, str, int]]:
        out, self.late = self.late, Counter()
        return out

    def forget(self, sources: set[str]) -> None:
        for source in sources:
            self.watermarks.pop(source, None)
            self._ahead.pop(source, None)

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
