"""The performance state of one model version over one pane of prediction time.

It gathers what the label join and the predictions add: how many predictions, how many got a
label, how many expired unlabeled, how many labels came after the horizon (not joined), the
realized performance (classification or regression state), the score-based estimate (binary
classifiers with scores), the label delays, and per-segment classification states. Everything
merges, so a window is the merge of its panes across partitions and processes.
"""

from __future__ import annotations

import zlib
from itertools import repeat
from operator import itemgetter
from typing import Any, cast

import msgspec
import numpy as np

from monitor.config import ModelConfig
from monitor.performance.classification import ClassificationState
from monitor.performance.estimation import EstimationState
from monitor.performance.record import LABEL, LABEL_TS, PRED, SCORE, SEGMENTS, TS, Record
from monitor.performance.regression import RegressionState
from monitor.segments import SegmentPlan

__all__ = ["DELAY_BUCKETS", "PerformancePane"]

#: Label delays are counted in buckets of powers of two seconds: [0,1), [1,2), [2,4), ...
DELAY_BUCKETS = 48


class PerformancePane:
    def __init__(
        self,
        task: str,
        classes: tuple[str, ...],
        positive: str | None,
        score_bins: int,
        plan: SegmentPlan,
    ) -> None:
        self.task = task
        self.classes = classes
        self.positive = positive
        self.score_bins = score_bins
        self.plan = plan  # the reference's monitored segments, so every pane groups alike
        self.predictions = 0
        self.labeled = 0
        self.expired = 0
        #: labels that met their prediction after its time + the horizon: counted, not joined
        self.after_horizon = 0
        self.delays = np.zeros(DELAY_BUCKETS, np.int64)
        self.realized: ClassificationState | RegressionState = (
            RegressionState()
            if task == "regression"
            else ClassificationState(classes, positive, score_bins)
        )
        self.estimated = EstimationState(score_bins) if positive is not None else None
        self.segments: dict[str, dict[str, ClassificationState | RegressionState]] = {
            k: {} for k in plan.values
        }
        self._index = {c: i for i, c in enumerate(classes)}

    @classmethod
    def empty(
        cls, cfg: ModelConfig, classes: tuple[str, ...], plan: SegmentPlan
    ) -> PerformancePane:
        binary = (
            cfg.task == "classification"
            and len(classes) == 2
            and cfg.labels.positive_class in classes
            and cfg.score
        )
        return cls(
            cfg.task,
            classes,
            cfg.labels.positive_class if binary else None,
            cfg.labels.score_bins,
            plan,
        )

    def _new_state(self) -> ClassificationState | RegressionState:
        return (
            RegressionState()
            if self.task == "regression"
            else ClassificationState(self.classes, self.positive, self.score_bins)
        )

    # -- updates ----------------------------------------------------------------------------
    def count_predictions(self, scores: np.ndarray | None, predictions: list[Any]) -> None:
        """Predictions of this pane (labeled or not): the denominator of label coverage, and the
        scores behind the estimated performance."""
        self.predictions += len(predictions)
        if self.estimated is not None and scores is not None:
            scored = ~np.isnan(scores)
            if scored.any():
                predicted = np.array([p == self.positive for p in predictions], np.int64)
                self.estimated.update(scores[scored], predicted[scored])

    def add_labels(self, records: list[Record], sign: int = 1) -> np.ndarray:
        """Count joined records (``sign=-1`` takes back records whose label was replaced);
        returns per record whether the prediction was right (classification) or its absolute
        error (regression)."""
        # Columns through C-level maps (zip(*records) would make an iterator per record, which
        # the garbage collector tracks).
        fields = (TS, PRED, SCORE, SEGMENTS, LABEL, LABEL_TS)
        ts, predictions, scores, segments, labels, label_ts = (
            list(map(itemgetter(f), records)) for f in fields
        )
        y, p, score, outcome = self._codes(labels, predictions, scores)
        part = self._new_state()
        self._update(part, y, p, score)
        delays = np.maximum(np.array(label_ts, np.int64) - np.array(ts, np.int64), 0) / 1000
        buckets = np.clip(
            np.floor(np.log2(np.maximum(delays, 0.5))) + 1, 0, DELAY_BUCKETS - 1
        ).astype(np.int64)
        self.delays += sign * np.bincount(buckets, minlength=DELAY_BUCKETS)
        self.labeled += sign * len(records)
        self._combine(self.realized, part, sign)
        for key in self.plan.values:
            names, codes = self.plan.codes([s.get(key) if s else None for s in segments], key)
            for code in np.unique(codes[codes >= 0]).tolist():
                rows = np.flatnonzero(codes == code)
                seg_part = self._new_state()
                self._update(seg_part, y[rows], p[rows], None if score is None else score[rows])
                target = self.segments[key].setdefault(names[code], self._new_state())
                self._combine(target, seg_part, sign)
        return outcome

    def _codes(
        self, labels: list[Any], predictions: list[Any], scores: list[Any]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray]:
        """Labels, predictions and scores (binary classifiers) as the state's arrays, and the
        outcome per record."""
        n = len(labels)
        if self.task == "regression":
            y = np.fromiter(map(float, labels), np.float64, n)
            p = np.fromiter(map(float, predictions), np.float64, n)
            return y, p, None, np.abs(p - y)
        index = self._index
        yc = np.fromiter(map(index.__getitem__, labels), np.int64, n)
        pc = np.fromiter(map(index.get, predictions, repeat(-1)), np.int64, n)
        # a prediction outside the class list counts as wrong
        pc = np.where(pc >= 0, pc, (yc + 1) % len(self.classes))
        score = np.array(scores, np.float64) if self.positive is not None else None  # None -> NaN
        return yc, pc, score, (yc == pc).astype(np.float64)

    @staticmethod
    def _update(
        state: ClassificationState | RegressionState,
        y: np.ndarray,
        p: np.ndarray,
        score: np.ndarray | None,
    ) -> None:
        if isinstance(state, RegressionState):
            state.update(y, p)
        else:
            state.update(y, p, score)

    @staticmethod
    def _combine(
        target: ClassificationState | RegressionState,
        part: ClassificationState | RegressionState,
        sign: int,
    ) -> None:
        if sign < 0:
            _subtract(target, part)
        elif isinstance(target, RegressionState):  # a pane's states are all of its task's kind
            target.merge(cast(RegressionState, part))
        else:
            target.merge(cast(ClassificationState, part))

    def expire(self, count: int) -> None:
        self.expired += count

    def count_after_horizon(self, count: int) -> None:
        """Labels of this pane's predictions that came after the horizon (not joined)."""
        self.after_horizon += count

    # -- merge and persist ------------------------------------------------------------------
    def merge(self, other: PerformancePane) -> None:
        self.predictions += other.predictions
        self.labeled += other.labeled
        self.expired += other.expired
        self.after_horizon += other.after_horizon
        self.delays += other.delays
        self.realized.merge(other.realized)  # type: ignore[arg-type]
        if self.estimated is not None and other.estimated is not None:
            self.estimated.merge(other.estimated)
        for key, states in other.segments.items():
            mine = self.segments.setdefault(key, {})
            for value, state in states.items():
                if value in mine:
                    mine[value].merge(state)  # type: ignore[arg-type]
                else:
                    mine[value] = state.copy()

    def to_bytes(self) -> bytes:
        payload = [
            self.task,
            list(self.classes),
            self.positive,
            self.score_bins,
            {k: list(v) for k, v in self.plan.values.items()},
            self.predictions,
            self.labeled,
            self.expired,
            self.delays.tobytes(),
            self.realized.to_bytes(),
            self.estimated.to_bytes() if self.estimated is not None else None,
            {
                k: {v: s.to_bytes() for v, s in sorted(states.items())}
                for k, states in sorted(self.segments.items())
            },
            self.after_horizon,
        ]
        return zlib.compress(msgspec.msgpack.encode(payload), 1)

    @classmethod
    def from_bytes(cls, data: bytes) -> PerformancePane:
        # a pane stored before the horizon was counted has 12 fields: none came after it
        (
            task,
            classes,
            positive,
            bins,
            plan,
            predictions,
            labeled,
            expired,
            delays,
            realized,
            estimated,
            segments,
            *rest,
        ) = msgspec.msgpack.decode(zlib.decompress(data))
        pane = cls(
            task,
            tuple(classes),
            positive,
            bins,
            SegmentPlan({k: tuple(v) for k, v in plan.items()}),
        )
        pane.predictions, pane.labeled, pane.expired = predictions, labeled, expired
        pane.after_horizon = rest[0] if rest else 0
        pane.delays = np.frombuffer(delays, np.int64).copy()
        kind = RegressionState if task == "regression" else ClassificationState
        pane.realized = kind.from_bytes(realized)
        pane.estimated = EstimationState.from_bytes(estimated) if estimated is not None else None
        pane.segments = {
            k: {v: kind.from_bytes(b) for v, b in states.items()} for k, states in segments.items()
        }
        return pane

    # -- reading ----------------------------------------------------------------------------
    def delay_quantiles(self) -> dict[str, float | None]:
        """p50 and p95 label delay in seconds (upper edge of the power-of-two bucket)."""
        total = int(self.delays.sum())
        if total <= 0:
            return {"p50": None, "p95": None}
        cum = np.cumsum(self.delays)
        edges = np.concatenate([[1.0], 2.0 ** np.arange(1, DELAY_BUCKETS)])
        return {f"p{q}": float(edges[int(np.searchsorted(cum, q / 100 * total))]) for q in (50, 95)}


def _subtract(
    target: ClassificationState | RegressionState, part: ClassificationState | RegressionState
) -> None:
    """Take ``part`` back out of ``target`` (a replaced label)."""
    if isinstance(target, ClassificationState):
        assert isinstance(part, ClassificationState)
        target.confusion -= part.confusion
        target.score_counts -= part.score_counts
        target.decile_score_sums -= part.decile_score_sums
        target.log_loss_sum -= part.log_loss_sum
        return
    assert isinstance(part, RegressionState)
    n = target.n - part.n
    if n <= 0:
        target.__init__()  # type: ignore[misc]
        return
    # Reverse of the parallel-variance merge: recover the rest from the whole and the part.
    mean_rest = (target.n * target.y_mean - part.n * part.y_mean) / n
    delta = part.y_mean - mean_rest
    target.y_m2 = max(0.0, target.y_m2 - part.y_m2 - delta * delta * n * part.n / target.n)
    target.y_mean = mean_rest
    target.n = n
    target.error_sum -= part.error_sum
    target.abs_error_sum -= part.abs_error_sum
    target.sq_error_sum -= part.sq_error_sum
    target.ape_sum -= part.ape_sum
    target.ape_n -= part.ape_n
