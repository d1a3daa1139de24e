"""Input checks shared by the statistics in :mod:`monitor.stats`."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray


def as_counts(counts: ArrayLike, name: str) -> NDArray[np.float64]:
    """Return ``counts`` as a float64 vector of finite non-negative values."""
    array = np.asarray(counts, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got {array.ndim} dimensions")
    # A NaN fails both comparisons, so this one pass rejects NaN, inf and negatives.
    if not ((array >= 0) & (array < np.inf)).all():
        raise ValueError(f"{name} must contain finite non-negative counts")
    return array


def paired_counts(
    ref_counts: ArrayLike, cur_counts: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Validate reference and current counts over the same bins."""
    ref = as_counts(ref_counts, "ref_counts")
    cur = as_counts(cur_counts, "cur_counts")
    if ref.size != cur.size:
        raise ValueError(
            "ref_counts and cur_counts must have the same length, "
            f"got {ref.size} and {cur.size}"
        )
    return ref, cur
