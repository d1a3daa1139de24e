"""Concept-drift detectors: one per partition (join key) and model version, fed the errors of
newly joined labels. One per partition so that the result does not depend on which process
owns it; their state is checkpointed in its own table (``drift_detectors``).

>>> from monitor.config import parse_config
>>> cfg = parse_config({"models": {"m": {"features": {"x": {"kind": "numeric"}},
...     "topics": {"labels": "l"}, "labels": {"concept_drift": "adwin"}}}})
>>> detectors = Detectors(cfg)
>>> detectors.feed("0", {("m", "1"): [(0.0, t) for t in range(500)] + [(1.0, 500 + t)
...                                   for t in range(500)]})
>>> [(m, v, d.method) for m, v, d in detectors.detections][:1]
[('m', '1', 'adwin')]
>>> sorted(detectors.drain())
[('0', 'm', '1')]
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

import numpy as np

from monitor.config import Config
from monitor.engine.state import DetectorKey
from monitor.performance.drift_detectors import ConceptDriftMonitor, Detection

__all__ = ["Detectors"]

log = logging.getLogger(__name__)


class Detectors:
    """The concept-drift detectors of one process, and the detections since the last drain."""

    def __init__(self, config: Config) -> None:
        self.config = config
        #: key -> (errors seen, detector)
        self.by_key: dict[DetectorKey, tuple[int, ConceptDriftMonitor]] = {}
        #: detections since the last drain: (model, version, detection)
        self.detections: list[tuple[str, str, Detection]] = []
        self._dirty: set[DetectorKey] = set()

    def feed(self, key: str, errors: Mapping[tuple[str, str], list[tuple[float, int]]]) -> None:
        """Feed each model version's (error, label time) pairs joined under ``key``."""
        for (model_id, version), pairs in errors.items():
            method = self.config.models[model_id].labels.concept_drift
            if method == "none" or not pairs:
                continue
            dk = (key, model_id, version)
            start, detector = self.by_key.get(dk) or (0, ConceptDriftMonitor(method))
            values = np.array([e for e, _ in pairs], np.float64)
            times = np.array([t for _, t in pairs], np.int64)
            self.by_key[dk] = (start + len(values), detector)
            for detection in detector.update_many(
                values, np.arange(start, start + len(values)), times
            ):
                self.detections.append((model_id, version, detection))
                log.info(
                    "concept drift in %s %s (%s) at label %d",
                    model_id,
                    version,
                    detection.method,
                    detection.position,
                )
            self._dirty.add(dk)

    def drain(self) -> dict[DetectorKey, tuple[int, bytes]]:
        """The detectors changed since the last drain, serialised."""
        out = {dk: (self.by_key[dk][0], self.by_key[dk][1].to_bytes()) for dk in self._dirty}
        self._dirty = set()
        return out

    def take_detections(self) -> list[tuple[str, str, Detection]]:
        out, self.detections = self.detections, []
        return out

    def restore(self, rows: Iterable[tuple[DetectorKey, int, bytes]]) -> None:
        """Load checkpointed detectors."""
        for dk, seen, blob in rows:
            self.by_key[dk] = (seen, ConceptDriftMonitor.from_bytes(blob))

    def forget(self, keys: set[str]) -> None:
        """Drop the detectors of partitions this process no longer owns."""
        for dk in [dk for dk in self.by_key if dk[0] in keys]:
            del self.by_key[dk]
            self._dirty.discard(dk)
