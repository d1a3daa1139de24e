"""Performance estimated from scores alone, before labels arrive (confidence-based, as CBPE).

If a binary classifier's scores are calibrated, an event with score ``s`` is positive with
probability ``s``. Summing over a window gives the expected confusion matrix: an event
predicted positive adds ``s`` to E[TP] and ``1 - s`` to E[FP]; one predicted negative adds
``s`` to E[FN] and ``1 - s`` to E[TN]. Accuracy, precision, recall and F1 are read from the
expected matrix; ROC AUC from the score histogram with each event a fractional positive ``s``
and negative ``1 - s`` (the AUC of the expected score distributions of the two classes).
The estimates are ratios of expected counts, which approach the expected metrics as windows
grow (a few percent apart at a few thousand events).

The estimates are only as good as the calibration, so :func:`calibration_report` checks a
labeled reliability table (from the reference, say) and says whether the scores can be trusted.

>>> import numpy as np
>>> state = EstimationState()
>>> state.update(np.array([0.9, 0.8, 0.3, 0.1]))
>>> m = state.metrics()
>>> round(m["accuracy"], 6), round(m["precision"], 6), round(m["recall"], 6)
(0.825, 0.85, 0.809524)
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec
import numpy as np
from numpy.typing import ArrayLike

from monitor.performance._binned import (
    SCORE_SCALE,
    binned_auc,
    check_bins,
    check_range,
    score_bin,
    to_fixed,
)
from monitor.config import ModelConfig
from monitor.performance.classification import ReliabilityTable
from monitor.reference import category

__all__ = ["CALIBRATION_TOLERANCE", "EstimationState", "calibration_report", "reference_calibration"]

#: Scores count as calibrated while the expected calibration error is at most this. On
#: calibrated scores the ECE of n events is noise of order 0.3 / sqrt(n / 10): about 0.03 at
#: n = 1,000 and 0.01 at 10,000, so judge calibration on a few thousand labeled events.
CALIBRATION_TOLERANCE = 0.05


class EstimationState:
    """Mergeable expected confusion sums and score histogram of a binary classifier.

    Parameters
    ----------
    score_bins
        Number of equal-width score bins on [0, 1] for the estimated ROC AUC.
    threshold
        An event is predicted positive when its score is at least ``threshold``, unless
        :meth:`update` is given the predictions.

    Examples
    --------
    >>> import numpy as np
    >>> a, b = EstimationState(), EstimationState()
    >>> a.update(np.array([0.9, 0.2]), np.array([1, 1]))
    >>> b.update(np.array([0.6]))
    >>> a.merge(b)
    >>> [[round(x, 6) for x in row] for row in a.metrics()["expected_confusion_matrix"]]
    [[0.0, 1.3], [0.0, 1.7]]
    >>> EstimationState(threshold=1.5)
    Traceback (most recent call last):
    ...
    ValueError: threshold must lie in [0, 1], got 1.5

    """

    def __init__(self, score_bins: int = 1000, threshold: float = 0.5) -> None:
        check_bins(score_bins)
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must lie in [0, 1], got {threshold!r}")
        self.score_bins = score_bins
        self.threshold = float(threshold)
        #: int64 per score bin: events, and the sum of their scores in units of 1 / SCORE_SCALE.
        self.bin_counts = np.zeros(score_bins, np.int64)
        self.bin_score_sums = np.zeros(score_bins, np.int64)
        #: int64 [predicted negative, predicted positive]: events, and the sums of their scores.
        self.predicted_counts = np.zeros(2, np.int64)
        self.predicted_score_sums = np.zeros(2, np.int64)

    @property
    def n(self) -> int:
        return int(self.bin_counts.sum())

    def update(self, score: ArrayLike, y_pred: ArrayLike | None = None) -> None:
        """Add a batch of scores in [0, 1] and, optionally, predictions (1 or True = positive)."""
        s = np.asarray(score, dtype=np.float64)
        if s.ndim != 1:
            raise ValueError(f"score must be a 1-d array, got shape {s.shape}")
        check_range(s)
        if y_pred is None:
            predicted = (s >= self.threshold).astype(np.int64)
        else:
            given = np.asarray(y_pred)
            if given.shape != s.shape:
                raise ValueError(
                    f"y_pred must be a 1-d array of length {s.size}, got shape {given.shape}"
                )
            if given.size and not ((given == 0) | (given == 1)).all():
                raise ValueError("y_pred must hold 0 or 1 (1 = predicted positive)")
            predicted = given.astype(np.int64)
        fixed = to_fixed(s, SCORE_SCALE)
        bins = score_bin(s, self.score_bins)
        self.bin_counts += np.bincount(bins, minlength=self.score_bins)
        np.add.at(self.bin_score_sums, bins, fixed)
        self.predicted_counts += np.bincount(predicted, minlength=2)
        np.add.at(self.predicted_score_sums, predicted, fixed)

    def merge(self, other: EstimationState) -> None:
        """Add ``other`` into this state (exact; the order of merges does not matter)."""
        if (self.score_bins, self.threshold) != (other.score_bins, other.threshold):
            raise ValueError(
                "cannot merge estimation states with different score_bins or threshold"
            )
        self.bin_counts += other.bin_counts
        self.bin_score_sums += other.bin_score_sums
        self.predicted_counts += other.predicted_counts
        self.predicted_score_sums += other.predicted_score_sums

    def copy(self) -> EstimationState:
        state = EstimationState(self.score_bins, self.threshold)
        state.merge(self)
        return state

    def __eq__(self, other: object) -> bool:
        return isinstance(other, EstimationState) and self.to_bytes() == other.to_bytes()

    def to_bytes(self) -> bytes:
        """A compact, deterministic serialisation (zlib over msgpack of the raw arrays)."""
        arrays = (
            self.bin_counts,
            self.bin_score_sums,
            self.predicted_counts,
            self.predicted_score_sums,
        )
        payload = [self.score_bins, self.threshold, *(a.tobytes() for a in arrays)]
        return zlib.compress(msgspec.msgpack.encode(payload), 1)

    @classmethod
    def from_bytes(cls, data: bytes) -> EstimationState:
        bins, threshold, counts, sums, pred_counts, pred_sums = msgspec.msgpack.decode(
            zlib.decompress(data)
        )
        state = cls(bins, threshold)
        state.bin_counts = np.frombuffer(counts, np.int64).copy()
        state.bin_score_sums = np.frombuffer(sums, np.int64).copy()
        state.predicted_counts = np.frombuffer(pred_counts, np.int64).copy()
        state.predicted_score_sums = np.frombuffer(pred_sums, np.int64).copy()
        return state

    def metrics(self) -> dict:
        """Estimated ``accuracy``, ``precision``, ``recall``, ``f1``, ``roc_auc``, and ``n``.

        Also ``expected_confusion_matrix``, rows actual and columns predicted, each ordered
        (negative, positive). Scores are summed in units of 2**-24, so the expected counts
        carry a rounding error below 3e-8 per event. As for labeled metrics, an undefined ratio is 0; every estimate
        is None while the state is empty, and ``roc_auc`` while either expected class is empty.
        """
        n = self.n
        keys = ("accuracy", "precision", "recall", "f1", "roc_auc", "expected_confusion_matrix")
        if n == 0:
            return dict.fromkeys(keys) | {"n": 0}
        (neg_n, pos_n), (neg_s, pos_s) = (
            self.predicted_counts.tolist(),
            self.predicted_score_sums.tolist(),
        )
        tp, fn = pos_s / SCORE_SCALE, neg_s / SCORE_SCALE
        fp, tn = pos_n - tp, neg_n - fn
        sums = self.bin_score_sums / SCORE_SCALE
        auc, _ = binned_auc(sums, self.bin_counts - sums)
        return {
            "n": n,
            "accuracy": (tp + tn) / n,
            "precision": tp / pos_n if pos_n else 0.0,
            "recall": tp / (tp + fn) if tp + fn else 0.0,
            "f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0,
            "roc_auc": auc,
            "expected_confusion_matrix": [[tn, fp], [fn, tp]],
        }


def calibration_report(table: ReliabilityTable, tolerance: float = CALIBRATION_TOLERANCE) -> dict:
    """How far a labeled reliability table is from calibration.

    Parameters
    ----------
    table
        Per score decile: events, score sum, labeled positives
        (:meth:`ClassificationState.reliability`).
    tolerance
        Largest expected calibration error that still counts as calibrated.

    Returns
    -------
    dict
        ``n``; ``deviations``, per decile the share of positives minus the mean score (None
        for an empty decile); ``max_deviation``, the largest absolute deviation; ``ece``, the
        expected calibration error (absolute deviations weighted by the deciles' shares of
        events); ``calibrated``, whether ``ece <= tolerance``; and ``tolerance``. All but
        ``n`` and ``tolerance`` are None for an empty table.

    Examples
    --------
    >>> import numpy as np
    >>> table = ReliabilityTable(np.array([100, 0, 100]), np.array([10.0, 0.0, 25.0]), np.array([10, 0, 45]))
    >>> report = calibration_report(table)
    >>> report["deviations"], report["ece"], report["calibrated"]
    ([0.0, None, 0.2], 0.1, False)

    """
    if not 0 <= tolerance <= 1:
        raise ValueError(f"tolerance must lie in [0, 1], got {tolerance!r}")
    counts = np.asarray(table.counts, dtype=np.int64)
    n = int(counts.sum())
    if n == 0:
        return dict.fromkeys(("deviations", "max_deviation", "ece", "calibrated")) | {
            "n": 0,
            "tolerance": tolerance,
        }
    filled = counts > 0
    deviation = np.full(counts.size, np.nan)
    deviation[filled] = (
        np.asarray(table.positives)[filled] - np.asarray(table.score_sums)[filled]
    ) / counts[filled]
    ece = float(np.abs(deviation[filled]) @ (counts[filled] / n))
    return {
        "n": n,
        "deviations": [None if np.isnan(d) else d for d in deviation.tolist()],
        "max_deviation": float(np.abs(deviation[filled]).max()),
        "ece": ece,
        "calibrated": ece <= tolerance,
        "tolerance": tolerance,
    }


def reference_calibration(cfg: ModelConfig, rows: Mapping[str, Sequence[Any]]) -> dict | None:
    """The :func:`calibration_report` of a binary classifier's reference rows that carry both
    a ``score`` and a ``label`` (None when the model has no scores or the rows no labels).

    >>> cfg = ModelConfig.model_validate({"features": {"x": {"kind": "numeric"}}})
    >>> rows = {"score": [0.1, 0.9, 0.9, None], "label": [1, 0, 0, 1]}
    >>> r = reference_calibration(cfg, rows); r["n"], r["calibrated"]
    (3, False)
    """
    if cfg.task != "classification" or not cfg.score or "label" not in rows or "score" not in rows:
        return None
    pairs = [(float(s), category(y) == cfg.labels.positive_class) for s, y in zip(rows["score"], rows["label"]) if s is not None and y is not None]
    if not pairs:
        return None
    scores, positive = zip(*pairs)
    return calibration_report(ReliabilityTable.of(scores, positive))
