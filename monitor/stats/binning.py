"""Fine and coarse bins shared by the sketches and the statistics.

A numeric reference profile holds strictly increasing fine edges ``edges`` of length
``B + 1``: ``edges[0]`` is the reference minimum and ``edges[-1]`` the reference maximum.
A value lands in a counts vector of length ``B + 2``:

* ``0``: underflow, ``x < edges[0]``;
* ``i`` in ``1..B``: ``edges[i - 1] <= x < edges[i]``, the last inner bin also holds
  ``edges[-1]``;
* ``B + 1``: overflow, ``x > edges[-1]``.

Missing values (NaN) are never in the counts. PSI and Jensen-Shannon on numeric features
use coarse bins made of whole runs of fine bins: the underflow joins the first coarse bin
and the overflow the last one.

"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from monitor.stats._validation import as_edges

__all__ = ["bin_index", "coarse_edges", "coarse_groups", "coarsen", "histogram"]


def _as_values(values: ArrayLike) -> NDArray[np.float64]:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"values must be one-dimensional, got {array.ndim} dimensions")
    return array


def _bin_index(edges: NDArray[np.float64], values: NDArray[np.float64]) -> NDArray[np.int64]:
    index = np.searchsorted(edges[:-1], values, side="right").astype(np.int64, copy=False)
    index += values > edges[-1]
    return index


def bin_index(edges: ArrayLike, values: ArrayLike) -> NDArray[np.int64]:
    """Fine bin of each value: 0 underflow, ``1..B`` inner bins, ``B + 1`` overflow.

    Parameters
    ----------
    edges
        Strictly increasing fine edges of length ``B + 1`` (``B >= 1``).
    values
        One-dimensional values without NaN; ``-inf`` underflows and ``inf`` overflows.

    Returns
    -------
    numpy.ndarray
        int64 bin indices, one per value.

    Examples
    --------
    >>> bin_index([0.0, 1.0, 2.0], [-1.0, 0.0, 0.5, 1.0, 2.0, 3.0]).tolist()
    [0, 1, 1, 2, 2, 3]

    """
    values = _as_values(values)
    if np.isnan(values).any():
        raise ValueError("values must not contain NaN; count missing values separately")
    return _bin_index(as_edges(edges), values)


def histogram(edges: ArrayLike, values: ArrayLike) -> NDArray[np.int64]:
    """Fine counts of length ``B + 2`` (underflow, inner bins, overflow).

    NaN values are missing and are skipped: they are never in the counts.

    Parameters
    ----------
    edges
        Strictly increasing fine edges of length ``B + 1`` (``B >= 1``).
    values
        One-dimensional values.

    Returns
    -------
    numpy.ndarray
        int64 counts of length ``B + 2``.

    Examples
    --------
    >>> histogram([0.0, 1.0, 2.0], [-1.0, 0.0, 0.5, 1.0, 2.0, 3.0, float("nan")]).tolist()
    [1, 2, 2, 1]

    """
    edges = as_edges(edges)
    values = _as_values(values)
    index = _bin_index(edges, values[~np.isnan(values)])
    return np.bincount(index, minlength=edges.size + 1)


def coarse_groups(n_inner_bins: int, n_coarse: int) -> NDArray[np.intp]:
    """Start indices of coarse bins over the ``n_inner_bins + 2`` fine counts.

    Coarse bin ``k`` of ``c = min(n_coarse, n_inner_bins)`` starts at inner bin
    ``1 + k * n_inner_bins // c``, so each holds ``B // c`` or ``B // c + 1`` inner bins;
    the first coarse bin starts at the underflow (index 0) and the last one runs to the
    overflow. With quantile fine edges the coarse bins are reference-quantile bins whose
    boundaries are fine edges. Use the result with :func:`coarsen` (``np.add.reduceat``).

    Parameters
    ----------
    n_inner_bins
        Number ``B`` of inner fine bins, at least 1.
    n_coarse
        Wanted number of coarse bins, at least 1.

    Returns
    -------
    numpy.ndarray
        Strictly increasing start indices, the first one 0.

    Examples
    --------
    >>> coarse_groups(10, 4).tolist()
    [0, 3, 6, 8]
    >>> coarse_groups(2, 10).tolist()
    [0, 2]

    """
    if n_inner_bins < 1:
        raise ValueError(f"n_inner_bins must be at least 1, got {n_inner_bins}")
    if n_coarse < 1:
        raise ValueError(f"n_coarse must be at least 1, got {n_coarse}")
    n_groups = min(n_coarse, n_inner_bins)
    starts = 1 + np.arange(n_groups, dtype=np.intp) * n_inner_bins // n_groups
    starts[0] = 0
    return starts


def _as_groups(groups: ArrayLike, limit: int) -> NDArray[np.intp]:
    array = np.asarray(groups)
    if not (
        array.ndim == 1
        and array.size >= 1
        and np.issubdtype(array.dtype, np.integer)
        and array[0] == 0
        and (np.diff(array) > 0).all()
        and array[-1] < limit
    ):
        raise ValueError(
            f"groups must be strictly increasing integers starting at 0 and below {limit}"
        )
    return array.astype(np.intp, copy=False)


def coarsen(counts: ArrayLike, groups: ArrayLike) -> NDArray[np.generic]:
    """Sum fine counts into the coarse bins that start at ``groups``.

    Parameters
    ----------
    counts
        Fine counts of length ``B + 2``.
    groups
        Start indices from :func:`coarse_groups`.

    Returns
    -------
    numpy.ndarray
        Coarse counts, one per group, with the dtype of ``counts``.

    Examples
    --------
    >>> coarsen([1, 2, 3, 4, 5, 6], coarse_groups(4, 2)).tolist()
    [6, 15]

    """
    counts = np.asarray(counts)
    if counts.ndim != 1:
        raise ValueError(f"counts must be one-dimensional, got {counts.ndim} dimensions")
    return np.add.reduceat(counts, _as_groups(groups, counts.size))


def coarse_edges(edges: ArrayLike, groups: ArrayLike) -> NDArray[np.float64]:
    """Interior boundaries between the coarse bins that start at ``groups``.

    Coarse bin ``k`` is ``[interior[k - 1], interior[k])`` with ``-inf`` and ``inf`` at the
    ends, so ``np.searchsorted(interior, x, side="right")`` gives the coarse bin of raw
    values ``x``, consistent with :func:`coarsen` of :func:`histogram`.

    Parameters
    ----------
    edges
        Strictly increasing fine edges of length ``B + 1``.
    groups
        Start indices from :func:`coarse_groups` for the same ``B``.

    Returns
    -------
    numpy.ndarray
        ``len(groups) - 1`` increasing fine edges.

    Examples
    --------
    >>> coarse_edges([0.0, 1.0, 2.0, 3.0, 4.0], coarse_groups(4, 2)).tolist()
    [2.0]

    """
    edges = as_edges(edges)
    # A group starting at the overflow would move edges[-1] out of the last inner bin.
    groups = _as_groups(groups, edges.size)
    return edges[groups[1:] - 1]
