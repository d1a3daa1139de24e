"""Classification performance of one model version over one pane or window, as mergeable counts.

The state holds a confusion matrix and, for a binary classifier with scores, score histograms
of positives and negatives over fixed bins, the sum of scores per decile and the log-loss sum.
Every field is an integer (sums of scores and log-losses in fixed point, see
:mod:`monitor.performance._binned`), so merging is exact: a window is the merge of its panes,
and any split of the events into batches, partitions or processes gives the same state, to the
bit.

The label-based metrics are River's: :meth:`ClassificationState.metrics` loads the merged
counts into a ``river.metrics.ConfusionMatrix`` (one weighted ``update`` per non-empty cell) and
asks River's ``Accuracy``, ``Precision``, ``Recall``, ``F1`` and their macro and weighted
variants, which read that matrix. They agree with scikit-learn with ``zero_division=0`` and its
default labels (the classes seen in the labels or the predictions): an undefined ratio is 0.
ROC AUC comes from the score histograms (see :func:`~monitor.performance._binned.binned_auc`),
with a bound on its distance from the exact AUC.

>>> import numpy as np
>>> state = ClassificationState(("0", "1"), positive="1")
>>> state.update(np.array([0, 1, 1, 0]), np.array([0, 1, 0, 1]), np.array([0.2, 0.9, 0.4, 0.6]))
>>> m = state.metrics()
>>> m["accuracy"], m["precision"], m["recall"], m["roc_auc"], m["confusion_matrix"]
(0.5, 0.5, 0.5, 0.75, [[1, 1], [1, 1]])
>>> other = ClassificationState.from_bytes(state.to_bytes())
>>> other.merge(state); other.n
8
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

import msgspec
import numpy as np
from numpy.typing import ArrayLike, NDArray

if TYPE_CHECKING:
    from river import metrics as river_metrics

from monitor.performance._binned import (
    LOSS_SCALE,
    SCORE_SCALE,
    as_scores,
    binned_auc,
    check_bins,
    check_range,
    fixed_total,
    score_bin,
    to_fixed,
)

__all__ = ["LOG_LOSS_EPS", "RELIABILITY_BINS", "ClassificationState", "ReliabilityTable"]

#: Scores are grouped into this many equal-width bins (deciles) for the reliability table.
RELIABILITY_BINS = 10
#: Scores are clipped to [LOG_LOSS_EPS, 1 - LOG_LOSS_EPS] for the log-loss, as River does.
#: (scikit-learn >= 1.5 clips at the machine epsilon instead; the two agree unless a score lies
#: within 1e-15 of 0 or 1.)
LOG_LOSS_EPS = 1e-15


_COMMON_KEYS = ("n", "accuracy", "confusion_matrix", "per_class")
_BINARY_KEYS = _COMMON_KEYS + (
    "precision", "recall", "f1", "positive_rate", "true_positive_rate",
    "n_scored", "roc_auc", "roc_auc_error_bound", "log_loss",
)  # fmt: skip
_MULTICLASS_KEYS = _COMMON_KEYS + (
    "precision_macro", "recall_macro", "f1_macro",
    "precision_weighted", "recall_weighted", "f1_weighted",
)  # fmt: skip


class ReliabilityTable(NamedTuple):
    """Per score decile ``[k/10, (k+1)/10)`` (the last includes 1): events, score sum, positives."""

    counts: NDArray[np.int64]
    score_sums: NDArray[np.float64]
    positives: NDArray[np.int64]

    @classmethod
    def of(cls, scores: ArrayLike, positive: ArrayLike) -> ReliabilityTable:
        """The table of raw scored pairs (``positive``: whether each label is the positive class).

        >>> ReliabilityTable.of([0.05, 0.15, 0.95, 1.0], [False, True, True, True]).counts.tolist()
        [1, 1, 0, 0, 0, 0, 0, 0, 0, 2]
        """
        s = np.asarray(scores, np.float64)
        decile = np.clip(np.floor(s * RELIABILITY_BINS), 0, RELIABILITY_BINS - 1).astype(np.intp)
        return cls(
            np.bincount(decile, minlength=RELIABILITY_BINS).astype(np.int64),
            np.bincount(decile, weights=s, minlength=RELIABILITY_BINS).astype(
                np.float64, copy=False
            ),
            np.bincount(
                decile, weights=np.asarray(positive, bool), minlength=RELIABILITY_BINS
            ).astype(np.int64),
        )


class ClassificationState:
    """Mergeable performance counts of a classifier over a fixed list of classes.

    Parameters
    ----------
    classes
        The class names; labels and predictions are given as codes into this tuple.
    positive
        The positive class of a binary classifier. Giving it makes the state binary: it then
        needs exactly two classes, reports precision, recall and F1 of the positive class, and
        accepts scores (the probability of the positive class). Without it the state reports
        macro and weighted averages, and takes no scores.
    score_bins
        Number of equal-width score bins on [0, 1] for ROC AUC; a multiple of 10 so that the
        reliability deciles are groups of bins.

    Examples
    --------
    >>> import numpy as np
    >>> state = ClassificationState(("cat", "dog", "eel"))
    >>> state.update(np.array([0, 0, 1, 2]), np.array([0, 1, 1, 1]))
    >>> m = state.metrics()
    >>> m["accuracy"], m["recall_macro"], round(m["f1_weighted"], 4)
    (0.5, 0.5, 0.4583)
    >>> ClassificationState(("a",))
    Traceback (most recent call last):
    ...
    ValueError: classes must be at least 2 distinct names, got ('a',)

    """

    def __init__(
        self, classes: Sequence[str], positive: str | None = None, score_bins: int = 1000
    ) -> None:
        classes = tuple(classes)
        if len(classes) < 2 or len(set(classes)) != len(classes):
            raise ValueError(f"classes must be at least 2 distinct names, got {classes!r}")
        if positive is not None and positive not in classes:
            raise ValueError(f"positive must be one of the classes, got {positive!r}")
        if positive is not None and len(classes) != 2:
            raise ValueError(
                f"a binary state (positive given) needs exactly 2 classes, got {len(classes)}"
            )
        check_bins(score_bins)
        self.classes = classes
        self.positive = positive
        self.score_bins = score_bins
        k = len(classes)
        scored_bins = score_bins if positive is not None else 0
        #: int64 (classes, classes): rows are true classes, columns predicted classes.
        self.confusion = np.zeros((k, k), np.int64)
        #: int64 (score_bins, 2): scored events per score bin, labeled negative / positive.
        self.score_counts = np.zeros((scored_bins, 2), np.int64)
        #: int64 per decile: sum of scores in units of 1 / SCORE_SCALE.
        self.decile_score_sums = np.zeros(RELIABILITY_BINS if scored_bins else 0, np.int64)
        #: Sum of the log-losses of scored events, in units of 1 / LOSS_SCALE.
        self.log_loss_sum = 0

    @property
    def binary(self) -> bool:
        return self.positive is not None

    @property
    def n(self) -> int:
        """Labeled events counted."""
        return int(self.confusion.sum())

    def update(self, y_true: ArrayLike, y_pred: ArrayLike, score: ArrayLike | None = None) -> None:
        """Count a batch of labeled predictions.

        Parameters
        ----------
        y_true, y_pred
            Codes into ``classes`` of the labels and the predictions.
        score
            Binary states only: the score (probability of the positive class) of each event, in
            [0, 1]; NaN where an event has no score (it is then counted in the confusion matrix
            only).
        """
        k = len(self.classes)
        y_true = np.asarray(y_true, dtype=np.int64)
        y_pred = np.asarray(y_pred, dtype=np.int64)
        if y_true.ndim != 1 or y_true.shape != y_pred.shape:
            raise ValueError(
                "y_true and y_pred must be 1-d arrays of the same length, got shapes "
                f"{y_true.shape} and {y_pred.shape}"
            )
        if score is not None and not self.binary:
            raise ValueError("scores need a binary state: pass positive= to ClassificationState")
        scores = None if score is None else as_scores(score, y_true.size)
        if y_true.size == 0:
            return
        lo = min(y_true.min(), y_pred.min())
        hi = max(y_true.max(), y_pred.max())
        if lo < 0 or hi >= k:
            raise ValueError(f"class codes must lie in [0, {k}), got {lo if lo < 0 else hi}")
        if scores is not None:
            self._update_scores(y_true == self.classes.index(self.positive), scores)
        self.confusion += np.bincount(y_true * k + y_pred, minlength=k * k).reshape(k, k)

    def _update_scores(self, positive: NDArray[np.bool_], score: NDArray[np.float64]) -> None:
        scored = ~np.isnan(score)
        if not scored.all():
            positive, score = positive[scored], score[scored]
        check_range(score)
        bins = score_bin(score, self.score_bins)
        b = self.score_bins
        self.score_counts += np.bincount(bins * 2 + positive, minlength=2 * b).reshape(b, 2)
        np.add.at(
            self.decile_score_sums, bins // (b // RELIABILITY_BINS), to_fixed(score, SCORE_SCALE)
        )
        clipped = np.clip(score, LOG_LOSS_EPS, 1 - LOG_LOSS_EPS)
        self.log_loss_sum += fixed_total(
            -np.log(np.where(positive, clipped, 1 - clipped)), LOSS_SCALE
        )

    def merge(self, other: ClassificationState) -> None:
        """Add ``other`` into this state (exact; the order of merges does not matter)."""
        if (self.classes, self.positive, self.score_bins) != (
            other.classes,
            other.positive,
            other.score_bins,
        ):
            raise ValueError(
                "cannot merge states with different classes, positive class or score_bins"
            )
        self.confusion += other.confusion
        self.score_counts += other.score_counts
        self.decile_score_sums += other.decile_score_sums
        self.log_loss_sum += other.log_loss_sum

    def copy(self) -> ClassificationState:
        state = ClassificationState(self.classes, self.positive, self.score_bins)
        state.merge(self)
        return state

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ClassificationState) and self.to_bytes() == other.to_bytes()

    def to_bytes(self) -> bytes:
        """A compact, deterministic serialisation (zlib over msgpack of the raw arrays)."""
        payload = [
            list(self.classes),
            self.positive,
            self.score_bins,
            self.confusion.tobytes(),
            self.score_counts.tobytes(),
            self.decile_score_sums.tobytes(),
            self.log_loss_sum.to_bytes(16, "little", signed=True),
        ]
        return zlib.compress(msgspec.msgpack.encode(payload), 1)

    @classmethod
    def from_bytes(cls, data: bytes) -> ClassificationState:
        classes, positive, bins, confusion, counts, deciles, loss = msgspec.msgpack.decode(
            zlib.decompress(data)
        )
        state = cls(classes, positive, bins)
        state.confusion = np.frombuffer(confusion, np.int64).reshape(state.confusion.shape).copy()
        state.score_counts = (
            np.frombuffer(counts, np.int64).reshape(state.score_counts.shape).copy()
        )
        state.decile_score_sums = np.frombuffer(deciles, np.int64).copy()
        state.log_loss_sum = int.from_bytes(loss, "little", signed=True)
        return state

    def reliability(self) -> ReliabilityTable:
        """The reliability table of the scored events (binary states only)."""
        if not self.binary:
            raise ValueError(
                "a reliability table needs a binary state: pass positive= to ClassificationState"
            )
        by_decile = self.score_counts.reshape(len(self.decile_score_sums), -1, 2).sum(axis=1)
        return ReliabilityTable(
            by_decile.sum(axis=1), self.decile_score_sums / SCORE_SCALE, by_decile[:, 1]
        )

    def metrics(self) -> dict:
        """The metrics of the counted events; every metric is None while the state is empty.

        Keys for every state: ``n``, ``accuracy``, ``confusion_matrix`` (lists, rows true
        classes) and ``per_class`` (class -> precision, recall, f1, support; classes never seen
        score 0, as scikit-learn's ``average=None`` with ``labels=classes``).
        Binary states add ``precision``, ``recall``, ``f1`` (of the positive class),
        ``positive_rate`` (share predicted positive), ``true_positive_rate`` (None without
        labeled positives), and from the scored events ``n_scored``, ``roc_auc``,
        ``roc_auc_error_bound`` (``|roc_auc - exact AUC| <= roc_auc_error_bound``) and
        ``log_loss``. Multiclass states add ``precision_macro``, ``recall_macro``, ``f1_macro``,
        ``precision_weighted``, ``recall_weighted`` and ``f1_weighted``.
        """
        n = self.n
        if n == 0:
            keys = _BINARY_KEYS if self.binary else _MULTICLASS_KEYS
            empty = {"n": 0, "n_scored": 0} if self.binary else {"n": 0}
            return dict.fromkeys(keys) | empty | {"confusion_matrix": self.confusion.tolist()}
        # River's metrics import scipy.stats (about 1 s): here, when a window has labels.
        from river import metrics as river_metrics

        cm = river_metrics.ConfusionMatrix()
        for i, j in zip(*np.nonzero(self.confusion)):
            cm.update(self.classes[i], self.classes[j], w=float(self.confusion[i, j]))
        out: dict = {
            "n": n,
            "accuracy": river_metrics.Accuracy(cm=cm).get(),
            "confusion_matrix": self.confusion.tolist(),
            "per_class": {
                c: {
                    "precision": river_metrics.Precision(cm=cm, pos_val=c).get(),
                    "recall": river_metrics.Recall(cm=cm, pos_val=c).get(),
                    "f1": river_metrics.F1(cm=cm, pos_val=c).get(),
                    "support": int(support),
                }
                for c, support in zip(self.classes, self.confusion.sum(axis=1))
            },
        }
        if self.binary:
            return out | self._binary_metrics(cm)
        return out | {
            "precision_macro": river_metrics.MacroPrecision(cm=cm).get(),
            "recall_macro": river_metrics.MacroRecall(cm=cm).get(),
            "f1_macro": river_metrics.MacroF1(cm=cm).get(),
            "precision_weighted": river_metrics.WeightedPrecision(cm=cm).get(),
            "recall_weighted": river_metrics.WeightedRecall(cm=cm).get(),
            "f1_weighted": river_metrics.WeightedF1(cm=cm).get(),
        }

    def _binary_metrics(self, cm: river_metrics.ConfusionMatrix) -> dict:
        from river import metrics as river_metrics

        pos = self.classes.index(self.positive)
        positives = int(self.confusion[pos].sum())
        n_scored = int(self.score_counts.sum())
        auc, bound = binned_auc(self.score_counts[:, 1], self.score_counts[:, 0])
        return {
            "precision": river_metrics.Precision(cm=cm, pos_val=self.positive).get(),
            "recall": river_metrics.Recall(cm=cm, pos_val=self.positive).get(),
            "f1": river_metrics.F1(cm=cm, pos_val=self.positive).get(),
            "positive_rate": int(self.confusion[:, pos].sum()) / self.n,
            "true_positive_rate": int(self.confusion[pos, pos]) / positives if positives else None,
            "n_scored": n_scored,
            "roc_auc": auc,
            "roc_auc_error_bound": bound,
            "log_loss": self.log_loss_sum / (LOSS_SCALE * n_scored) if n_scored else None,
        }
