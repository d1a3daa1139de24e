"""Exact sums over fixed score bins, shared by the classification and estimation states.

Scores live in fixed bins on [0, 1] (bin ``min(floor(s * bins), bins - 1)``, monotone in the
score), so two states built over the same bins merge by adding counts. Sums of real values
(scores, log-losses) are held in *fixed point*: every value is rounded once to a multiple of
``1 / scale`` and the integers are added. Integer addition is associative, so a state is the
same to the bit however its events were split into batches, panes or partitions.

>>> to_fixed(np.array([0.25, 1.0]), SCORE_SCALE).tolist()
[4194304, 16777216]
>>> binned_auc(np.array([0.0, 1.0]), np.array([1.0, 0.0]))
(1.0, 0.0)
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

#: Scores are summed in units of 2**-24: a score moves by at most 2**-25 (3e-8), and an int64
#: bin holds 2**39 (5e11) events of score 1 before it overflows.
SCORE_SCALE = 2**24
#: Log-losses are summed in units of 2**-32: a mean log-loss moves by at most 2**-33 (1.2e-10).
LOSS_SCALE = 2**32
# Terms below 64 with LOSS_SCALE stay below 2**38 each, so 2**24 of them sum within int64.
_CHUNK = 2**24


def to_fixed(values: NDArray[np.float64], scale: int) -> NDArray[np.int64]:
    """``values`` rounded to the nearest multiple of ``1 / scale``, as int64 multiples."""
    return np.rint(values * scale).astype(np.int64)


def fixed_total(values: NDArray[np.float64], scale: int) -> int:
    """The exact sum of ``to_fixed(values, scale)`` for values in [0, 64), as a Python int."""
    return sum(
        int(to_fixed(values[i : i + _CHUNK], scale).sum()) for i in range(0, values.size, _CHUNK)
    )


def check_bins(score_bins: int) -> None:
    """Validate a number of score bins (deciles are groups of bins, so a multiple of 10)."""
    if (
        isinstance(score_bins, bool)
        or not isinstance(score_bins, int)
        or score_bins <= 0
        or score_bins % 10
    ):
        raise ValueError(f"score_bins must be a positive multiple of 10, got {score_bins!r}")


def as_scores(score: ArrayLike, n: int) -> NDArray[np.float64]:
    """``score`` as a float64 vector of length ``n``; NaN passes (callers decide what it means)."""
    s = np.asarray(score, dtype=np.float64)
    if s.shape != (n,):
        raise ValueError(f"score must be a 1-d array of length {n}, got shape {s.shape}")
    return s


def check_range(score: NDArray[np.float64]) -> None:
    """Raise unless every score lies in [0, 1] (NaN fails)."""
    if score.size and not ((score >= 0.0) & (score <= 1.0)).all():
        bad = float(score[~((score >= 0.0) & (score <= 1.0))][0])
        raise ValueError(f"scores must lie in [0, 1], got {bad!r}")


def score_bin(score: NDArray[np.float64], bins: int) -> NDArray[np.int64]:
    """The fixed bin of each score in [0, 1] (a score of exactly 1 goes to the last bin)."""
    return np.minimum((score * bins).astype(np.int64), bins - 1)


def binned_auc(pos: NDArray, neg: NDArray) -> tuple[float, float] | tuple[None, None]:
    """ROC AUC of binned positive and negative weights, and its bound against the exact AUC.

    The AUC is the Mann-Whitney statistic: the share of (positive, negative) pairs where the
    positive scores higher, with ties counted as half. Pairs in different bins are ordered
    exactly, because binning is monotone; a pair in the same bin counts 1/2 where the exact
    statistic counts 0, 1/2 or 1. So the binned AUC differs from the exact one (sklearn's
    ``roc_auc_score`` on the raw scores) by at most half the share of pairs that share a bin,
    which is the bound returned. Weights may be fractional (expected positives and negatives).

    Returns ``(None, None)`` when either class has no weight.
    """
    pos = pos.astype(np.float64)
    neg = neg.astype(np.float64)
    p, q = float(pos.sum()), float(neg.sum())
    if p <= 0 or q <= 0:
        return None, None
    below = np.cumsum(neg) - neg  # negative weight in lower bins
    same = float(pos @ neg) / (p * q)
    return float(pos @ below) / (p * q) + same / 2, same / 2
