"""Performance estimated from scores alone, before labels arrive (confidence-based, as CBPE).

If a binary classifier's scores are calibrated, an event with score ``s`` is positive with
probability ``s``. Summing over a window gives the expected confusion matrix: an event
predicted positive adds ``s`` to E[TP] and ``1 - s`` to E[FP]; one predicted negative adds
``s`` to E[FN] and ``1 - s`` to E[TN]. Accuracy, precision, recall and F1 are read from the
expected matrix; ROC AUC from the score histogram with each event a fractional positive ``s``
and negative ``1 - s`` (the AUC of the expected score distributions of the two classes).
The estimates are ratios of expected counts, which approach the expected metrics as windows
grow (a few percent apart at a few thousand events).

Scores are seldom calibrated, so the reference's labeled rows fit a calibration map ``g``
(:mod:`monitor.performance.calibration`, isotonic as NannyML's CBPE) and
:meth:`EstimationState.metrics` reads each score bin as positive with probability ``g`` of its
mean score. :func:`calibration_report` checks a labeled reliability table (from the
reference, say) bin by bin, and says whether the raw scores can be trusted.

>>> import numpy as np
>>> state = EstimationState()
>>> state.update(np.array([0.9, 0.8, 0.3, 0.1]))
>>> m = state.metrics()
>>> round(m["accuracy"], 6), round(m["precision"], 6), round(m["recall"], 6)
(0.825, 0.85, 0.809524)
>>> g = CalibrationMap(np.array([0.0, 1.0]), np.array([0.0, 0.5]), 100)  # half as sure
>>> round(state.metrics(g)["accuracy"], 6)
0.6625
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping

import msgspec
import numpy as np
from numpy.typing import ArrayLike, NDArray

from monitor.config import ModelConfig
from monitor.performance._binned import (
    SCORE_SCALE,
    binned_auc,
    check_bins,
    check_range,
    score_bin,
    to_fixed,
)
from monitor.performance.calibration import CalibrationMap, fit_isotonic
from monitor.performance.classification import RELIABILITY_BINS, ReliabilityTable
from monitor.reference import category
from monitor.values import Column

__all__ = [
    "CALIBRATION_ALPHA",
    "CALIBRATION_TOLERANCE",
    "EstimationState",
    "calibration_report",
    "calibration_text",
    "labeled_scores",
    "reference_calibration",
    "reference_calibration_map",
]

#: Scores count as calibrated while the expected calibration error is at most this. On
#: calibrated scores the ECE of n events is noise of order 0.3 / sqrt(n / 10): about 0.03 at
#: n = 1,000 and 0.01 at 10,000, so judge calibration on a few thousand labeled events.
CALIBRATION_TOLERANCE = 0.05
#: Family-wise error rate of the per-bin calibration tests: a calibrated model's reference is
#: called miscalibrated at most this often.
CALIBRATION_ALPHA = 0.01


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

    def metrics(self, calibration: CalibrationMap | None = None) -> dict:
        """Estimated ``accuracy``, ``precision``, ``recall``, ``f1``, ``roc_auc``, and ``n``.

        Also ``expected_confusion_matrix``, rows actual and columns predicted, each ordered
        (negative, positive). Scores are summed in units of 2**-24, so the expected counts
        carry a rounding error below 3e-8 per event. As for labeled metrics, an undefined ratio
        is 0; every estimate is None while the state is empty, and ``roc_auc`` while either
        expected class is empty.

        With ``calibration`` (the reference's map), an event of score bin ``b`` is positive
        with probability ``calibration(mean score of b)``, and the predicted positives are taken
        to be the highest-scored events (the bin at the threshold shared pro rata): the
        predictions must be the score above a threshold, as they are for a model that predicts
        by thresholding its score. The bins are 1/score_bins wide, so reading each at its mean
        moves an estimate by at most the map's rise over one bin.
        """
        n = self.n
        keys = ("accuracy", "precision", "recall", "f1", "roc_auc", "expected_confusion_matrix")
        if n == 0:
            return dict.fromkeys(keys) | {"n": 0}
        neg_n, pos_n = self.predicted_counts.tolist()
        if calibration is None:
            positives = self.bin_score_sums / SCORE_SCALE
            neg_s, pos_s = self.predicted_score_sums.tolist()
            tp, fn = pos_s / SCORE_SCALE, neg_s / SCORE_SCALE
        else:
            positives = self._calibrated_positives(calibration)
            tp = float(positives @ self._top_shares(pos_n))
            fn = float(positives.sum()) - tp
        fp, tn = pos_n - tp, neg_n - fn
        auc, _ = binned_auc(positives, self.bin_counts - positives)
        return {
            "n": n,
            "accuracy": (tp + tn) / n,
            "precision": tp / pos_n if pos_n else 0.0,
            "recall": tp / (tp + fn) if tp + fn else 0.0,
            "f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0,
            "roc_auc": auc,
            "expected_confusion_matrix": [[tn, fp], [fn, tp]],
        }

    def _calibrated_positives(self, calibration: CalibrationMap) -> NDArray[np.float64]:
        """Expected positives per score bin: its events times the map at its mean score."""
        counts = self.bin_counts
        filled = counts > 0
        expected = np.zeros(counts.size)
        mean = self.bin_score_sums[filled] / (SCORE_SCALE * counts[filled])
        expected[filled] = counts[filled] * calibration(mean)
        return expected

    def _top_shares(self, top: int) -> NDArray[np.float64]:
        """Per score bin, the share of its events among the ``top`` highest-scored."""
        counts = self.bin_counts
        above = np.cumsum(counts[::-1])[::-1] - counts  # events in higher bins
        taken = np.clip(top - above, 0, counts)
        return np.divide(taken, counts, out=np.zeros(counts.size), where=counts > 0)


def calibration_report(
    table: ReliabilityTable,
    tolerance: float = CALIBRATION_TOLERANCE,
    alpha: float = CALIBRATION_ALPHA,
) -> dict:
    """How far a labeled reliability table is from calibration, bin by bin.

    The expected calibration error weights each bin by its events, so a few bins holding most
    events (scores near 0 and 1) hide sparse bins that are plainly off. Each bin is therefore
    also tested on its own: its positives against a binomial with the bin's mean score (two-
    sided, exact; conservative, since a sum of Bernoulli(s_i) varies less than a binomial with
    their mean), with Holm's correction over the bins so that a calibrated table is called off
    with probability at most ``alpha``. A bin is *off* when its test rejects and it deviates by
    more than ``tolerance``.

    Parameters
    ----------
    table
        Per score bin: events, score sum, labeled positives
        (:meth:`ClassificationState.reliability`).
    tolerance
        Largest expected calibration error, and largest deviation of a bin, that still counts
        as calibrated.
    alpha
        Family-wise error rate of the per-bin tests.

    Returns
    -------
    dict
        ``n``; ``deviations``, per bin the share of positives minus the mean score (None for an
        empty bin); ``max_deviation``, the largest absolute deviation; ``ece``, the expected
        calibration error (absolute deviations weighted by the bins' shares of events);
        ``p_values``, per bin the Holm-adjusted p-value (None when empty); ``off_bins``, the
        indices of the bins that are off; ``calibrated``, whether ``ece <= tolerance`` and no
        bin is off; ``tolerance`` and ``alpha``. All but ``n``, ``tolerance`` and ``alpha`` are
        None for an empty table.

    Examples
    --------
    >>> import numpy as np
    >>> table = ReliabilityTable(
    ...     np.array([100, 0, 100]), np.array([10.0, 0.0, 25.0]), np.array([10, 0, 45])
    ... )
    >>> report = calibration_report(table)
    >>> report["deviations"], report["ece"], report["off_bins"], report["calibrated"]
    ([0.0, None, 0.2], 0.1, [2], False)

    A sparse bin far off, hidden in the ECE by two full bins that are right:

    >>> table = ReliabilityTable(
    ...     np.array([4000, 200, 4000]), np.array([200.0, 100.0, 3800.0]), np.array([200, 40, 3800])
    ... )
    >>> report = calibration_report(table)
    >>> round(report["ece"], 3), report["off_bins"], report["calibrated"]
    (0.007, [1], False)

    """
    if not 0 <= tolerance <= 1:
        raise ValueError(f"tolerance must lie in [0, 1], got {tolerance!r}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha!r}")
    counts = np.asarray(table.counts, dtype=np.int64)
    n = int(counts.sum())
    if n == 0:
        keys = ("deviations", "max_deviation", "ece", "p_values", "off_bins", "calibrated")
        return dict.fromkeys(keys) | {"n": 0, "tolerance": tolerance, "alpha": alpha}
    filled = counts > 0
    positives = np.asarray(table.positives, dtype=np.int64)[filled]
    mean_score = np.clip(np.asarray(table.score_sums)[filled] / counts[filled], 0.0, 1.0)
    deviation = np.full(counts.size, np.nan)
    deviation[filled] = positives / counts[filled] - mean_score
    ece = float(np.abs(deviation[filled]) @ (counts[filled] / n))
    from scipy.stats import binomtest  # here, not at import: scipy.stats takes about 1 s

    raw = [
        binomtest(int(k), int(m), p).pvalue
        for k, m, p in zip(positives, counts[filled], mean_score)
    ]
    p_values = np.full(counts.size, np.nan)
    p_values[filled] = _holm(np.array(raw))
    off = np.flatnonzero((p_values < alpha) & (np.abs(deviation) > tolerance))
    return {
        "n": n,
        "deviations": [None if np.isnan(d) else d for d in deviation.tolist()],
        "max_deviation": float(np.abs(deviation[filled]).max()),
        "ece": ece,
        "p_values": [None if np.isnan(p) else p for p in p_values.tolist()],
        "off_bins": off.tolist(),
        "calibrated": ece <= tolerance and off.size == 0,
        "tolerance": tolerance,
        "alpha": alpha,
    }


def calibration_text(report: dict) -> str:
    """What ``monitor reference build`` says of a reference's :func:`calibration_report`.

    >>> table = ReliabilityTable(
    ...     np.array([4000, 200, 4000]), np.array([200.0, 100.0, 3800.0]), np.array([200, 40, 3800])
    ... )
    >>> print(calibration_text(calibration_report(table)))  # doctest: +NORMALIZE_WHITESPACE
    warning: the reference's scores are not calibrated (expected calibration error 0.007 <= 0.05;
    off by more than 0.05: decile 0.1-0.2 by -0.300; over 8200 labeled rows): estimated
    performance reads them through the isotonic calibration fitted on these rows, which holds
    while the relation of score to label stays as in the reference (covariate shift keeps it)
    """
    ece, n, tolerance = report["ece"], report["n"], report["tolerance"]
    if report["calibrated"]:
        return (
            f"scores are calibrated on the reference's {n} labeled rows (expected calibration "
            f"error {ece:.3f} <= {tolerance}, no score decile off by more than {tolerance})"
        )
    deviations = report["deviations"]
    off = ", ".join(
        (
            f"decile {k / RELIABILITY_BINS:.1f}-{(k + 1) / RELIABILITY_BINS:.1f} by "
            f"{deviations[k]:+.3f}"
        )
        for k in report["off_bins"]
    )
    return (
        f"warning: the reference's scores are not calibrated (expected calibration error "
        f"{ece:.3f} {'>' if ece > tolerance else '<='} {tolerance}"
        + (f"; off by more than {tolerance}: {off}" if off else "")
        + f"; over {n} labeled rows): estimated performance reads them through the isotonic "
        "calibration fitted on these rows, which holds while the relation of score to label "
        "stays as in the reference (covariate shift keeps it)"
    )


def _holm(p: NDArray[np.float64]) -> NDArray[np.float64]:
    """Holm's step-down adjusted p-values (family-wise error control, any dependence)."""
    order = np.argsort(p)
    steps = np.minimum(1.0, (p.size - np.arange(p.size)) * p[order])
    adjusted = np.empty_like(p)
    adjusted[order] = np.maximum.accumulate(steps)
    return adjusted


def labeled_scores(
    cfg: ModelConfig, rows: Mapping[str, Column]
) -> tuple[NDArray[np.float64], NDArray[np.bool_]] | None:
    """The scores of a binary classifier's rows that carry both a ``score`` and a ``label``,
    and whether each label is the positive class (None when there are none).

    >>> cfg = ModelConfig.model_validate({"features": {"x": {"kind": "numeric"}}})
    >>> labeled_scores(cfg, {"score": [0.1, 0.9, None], "label": [1, None, 0]})
    (array([0.1]), array([ True]))
    """
    if cfg.task != "classification" or not cfg.score or "label" not in rows or "score" not in rows:
        return None
    positive = cfg.labels.positive_class
    pairs = [
        (float(s), category(y) == positive)
        for s, y in zip(rows["score"], rows["label"])
        if s is not None and y is not None
    ]
    if not pairs:
        return None
    scores, flags = zip(*pairs)
    return np.array(scores, np.float64), np.array(flags, bool)


def reference_calibration(cfg: ModelConfig, rows: Mapping[str, Column]) -> dict | None:
    """The :func:`calibration_report` of the reference's :func:`labeled_scores` over score
    deciles (None without labeled scores).

    >>> cfg = ModelConfig.model_validate({"features": {"x": {"kind": "numeric"}}})
    >>> rows = {"score": [0.1, 0.9, 0.9, None], "label": [1, 0, 0, 1]}
    >>> r = reference_calibration(cfg, rows); r["n"], r["calibrated"]
    (3, False)
    """
    labeled = labeled_scores(cfg, rows)
    return None if labeled is None else calibration_report(ReliabilityTable.of(*labeled))


def reference_calibration_map(
    cfg: ModelConfig, rows: Mapping[str, Column]
) -> CalibrationMap | None:
    """The isotonic calibration map of the reference's :func:`labeled_scores` (None without).

    >>> cfg = ModelConfig.model_validate({"features": {"x": {"kind": "numeric"}}})
    >>> reference_calibration_map(cfg, {"score": [0.2, 0.8], "label": [0, 1]}).values.tolist()
    [0.0, 1.0]
    """
    labeled = labeled_scores(cfg, rows)
    return None if labeled is None else fit_isotonic(*labeled)
