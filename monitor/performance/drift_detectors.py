"""Concept drift: River's change detectors over the stream of a model's errors.

An error is whatever the caller feeds in event order: 0/1 misclassification for a classifier,
the absolute error for a regressor. River's detectors are sequential, so unlike the window
states they do not merge: run one monitor per model version and error stream (one consumer
owns a partition's stream), and checkpoint it with :meth:`ConceptDriftMonitor.to_bytes`.

Checkpoints use pickle, because River's detectors keep their state in private objects (ADWIN's
bucket lists, KSWIN's window and random generator) that pickle restores exactly. Unpickling runs
code, so :meth:`ConceptDriftMonitor.from_bytes` must only be given bytes this module wrote into
our own checkpoint store, never data from outside.

>>> import numpy as np
>>> monitor = ConceptDriftMonitor("page_hinkley", threshold=5.0)
>>> errors = np.r_[np.zeros(100), np.ones(100)]
>>> monitor.update_many(errors, np.arange(200), np.arange(200) * 1000)
[Detection(position=105, time=105000, method='page_hinkley')]
"""

from __future__ import annotations

import pickle
import zlib
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["DETECTORS", "ConceptDriftMonitor", "Detection"]

#: Method name -> the name of its River detector class (in ``river.drift``); keyword parameters
#: go to its constructor. Names, not classes: importing ``river.drift`` pulls in pandas and
#: scikit-learn (about 1 s), which a job without labels never needs.
DETECTORS: dict[str, str] = {"adwin": "ADWIN", "kswin": "KSWIN", "page_hinkley": "PageHinkley"}


class Detection(NamedTuple):
    """A detected change: the position and event time of the error that revealed it."""

    position: int
    time: int | float
    method: str


class ConceptDriftMonitor:
    """A River change detector fed with batches of errors.

    Parameters
    ----------
    method
        ``"adwin"``, ``"kswin"`` or ``"page_hinkley"`` (see :data:`DETECTORS`).
    **params
        Passed to the River detector (ADWIN ``delta``; KSWIN ``alpha``, ``window_size``,
        ``stat_size``, ``seed``; Page-Hinkley ``threshold``, ``delta``, ``min_instances``...).

    Examples
    --------
    >>> ConceptDriftMonitor("cusum")
    Traceback (most recent call last):
    ...
    ValueError: method must be one of 'adwin', 'kswin', 'page_hinkley', got 'cusum'

    """

    def __init__(self, method: str = "adwin", **params: object) -> None:
        if method not in DETECTORS:
            names = ", ".join(repr(m) for m in DETECTORS)
            raise ValueError(f"method must be one of {names}, got {method!r}")
        from river import drift

        self.method = method
        self.detector = getattr(drift, DETECTORS[method])(**params)

    def update_many(
        self, errors: ArrayLike, positions: ArrayLike, times: ArrayLike
    ) -> list[Detection]:
        """Feed ``errors`` in order; return a detection for each error that signalled a change.

        ``positions`` and ``times`` (for instance stream offsets and event times) label each
        error and are only copied into the detections.
        """
        errors = np.asarray(errors, dtype=np.float64)
        positions, times = np.asarray(positions), np.asarray(times)
        if errors.ndim != 1 or positions.shape != errors.shape or times.shape != errors.shape:
            raise ValueError(
                "errors, positions and times must be 1-d arrays of the same length, got shapes "
                f"{errors.shape}, {positions.shape} and {times.shape}"
            )
        detector = self.detector
        found = []
        for i, error in enumerate(errors.tolist()):
            detector.update(error)
            if detector.drift_detected:
                found.append(i)
        return [Detection(positions[i].item(), times[i].item(), self.method) for i in found]

    def to_bytes(self) -> bytes:
        """The method and the pickled detector, zlib-compressed (for our own checkpoints only)."""
        return zlib.compress(pickle.dumps((self.method, self.detector), protocol=5), 1)

    @classmethod
    def from_bytes(cls, data: bytes) -> ConceptDriftMonitor:
        """Restore a monitor from :meth:`to_bytes`; unpickles, so only pass our own checkpoints."""
        monitor = cls.__new__(cls)
        monitor.method, monitor.detector = pickle.loads(zlib.decompress(data))
        return monitor
