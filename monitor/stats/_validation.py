"""Input checks shared by the statistics in :mod:`monitor.stats`."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray


def as_edges(edges: ArrayLike) -> NDArray[np.float64]:
    """Return ``edges`` as strictly increasing finite float64 fine edges, at least 2."""
    array = np.asarray(edges, dtype=np.float64)
    if array.ndim != 1 or array.size < 2:
        raise ValueError(
            f"edges must be a one-dimensional array of at least 2 values, got shape {array.shape}"
        )
    if not np.isfinite(array).all():
        raise ValueError("edges must be finite")
    if not (np.diff(array) > 0).all():
        raise ValueError("edges must be strictly increasing")
    return array


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
            f"ref_counts and cur_counts must have the same length, got {ref.size} and {cur.size}"
        )
    return ref, cur
