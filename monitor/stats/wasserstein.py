r"""1-D Wasserstein distance between binned samples, in units of the reference spread.

Each fine bin is represented by one point carrying the bin's mass (:func:`bin_points`):
the midpoint of an inner bin, and for the underflow and overflow the mean of the values
that fell there.

How close to the exact distance. Write :math:`W = \int |F - G|` for the exact distance
between the raw reference and current samples and :math:`W_b` for the binned one. The
reference has no mass outside ``[edges[0], edges[-1]]``, so below ``edges[0]`` the integrand
is :math:`G` alone and :math:`\int_{-\infty}^{e_0} G = q_u (e_0 - \bar{x}_u)`, which does not
change when the underflow mass :math:`q_u` moves to its mean :math:`\bar{x}_u`; likewise for
the overflow. The tails are therefore exact. Inside the range, moving the mass of inner bin
:math:`i` (width :math:`w_i`) to its midpoint moves each unit at most :math:`w_i / 2`, for
each of the two samples, so by the triangle inequality

.. math:: |W_b - W| \le \tfrac12 \sum_i (p_i + q_i)\, w_i \le \max_i w_i

before dividing both by ``scale``. With quantile edges the inner widths are small where
the reference is dense and large only in its sparse tails.

"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from monitor.stats._validation import as_counts, as_edges

__all__ = ["bin_points", "wasserstein"]


def bin_points(edges: ArrayLike, under_mean: float, over_mean: float) -> NDArray[np.float64]:
    """Representative points of the ``B + 2`` fine bins.

    Parameters
    ----------
    edges
        Strictly increasing fine edges of length ``B + 1``.
    under_mean
        Mean of the values below ``edges[0]``; any finite value (e.g. ``edges[0]``) if there
        are none.
    over_mean
        Mean of the values above ``edges[-1]``; any finite value (e.g. ``edges[-1]``) if
        there are none.

    Returns
    -------
    numpy.ndarray
        ``[under_mean, midpoints of the inner bins..., over_mean]``.

    Examples
    --------
    >>> bin_points([0.0, 1.0, 3.0], -2.0, 5.0).tolist()
    [-2.0, 0.5, 2.0, 5.0]

    """
    edges = as_edges(edges)
    if not (np.isfinite(under_mean) and np.isfinite(over_mean)):
        raise ValueError(
            f"under_mean and over_mean must be finite, got {under_mean} and {over_mean}"
        )
    midpoints = (edges[:-1] + edges[1:]) / 2.0
    return np.concatenate([[under_mean], midpoints, [over_mean]])


def _as_points(
    points: ArrayLike, counts: ArrayLike, side: str
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    positions = np.asarray(points, dtype=np.float64)
    weights = as_counts(counts, f"{side}_counts")
    if positions.shape != weights.shape:
        raise ValueError(
            f"{side}_points and {side}_counts must have the same length, "
            f"got {positions.size} and {weights.size}"
        )
    if not np.isfinite(positions).all():
        raise ValueError(f"{side}_points must be finite")
    return positions, weights


def wasserstein(
    ref_points: ArrayLike,
    ref_counts: ArrayLike,
    cur_points: ArrayLike,
    cur_counts: ArrayLike,
    scale: float,
) -> float:
    """Wasserstein-1 distance between two weighted point sets, divided by ``scale``.

    The distance is the integral of the absolute difference of the two CDFs over the
    merged sorted support, as ``scipy.stats.wasserstein_distance(ref_points, cur_points,
    ref_counts, cur_counts) / scale``. Points need not be sorted.

    Parameters
    ----------
    ref_points
        Positions of the reference masses, e.g. from :func:`bin_points`.
    ref_counts
        Reference mass at each point.
    cur_points
        Positions of the current masses.
    cur_counts
        Current mass at each point.
    scale
        Reference standard deviation; a non-positive or non-finite value (a constant
        reference) means no scaling, 1.0.

    Returns
    -------
    float
        The scaled distance, or nan if either total is 0.

    Examples
    --------
    >>> wasserstein([0.0, 1.0], [1, 1], [1.0, 2.0], [1, 1], scale=2.0)
    0.5
    >>> wasserstein([0.0], [3], [5.0], [1], scale=0.0)
    5.0

    """
    ref_points, ref_counts = _as_points(ref_points, ref_counts, "ref")
    cur_points, cur_counts = _as_points(cur_points, cur_counts, "cur")
    n_ref = ref_counts.sum()
    n_cur = cur_counts.sum()
    if n_ref == 0 or n_cur == 0:
        return float("nan")
    if not (np.isfinite(scale) and scale > 0):
        scale = 1.0
    points = np.concatenate([ref_points, cur_points])
    order = np.argsort(points, kind="stable")
    # Reference mass counts up and current mass counts down, so the running sum is F - G.
    signed_mass = np.concatenate([ref_counts / n_ref, -cur_counts / n_cur])[order]
    cdf_difference = np.cumsum(signed_mass)[:-1]
    return float(np.sum(np.abs(cdf_difference) * np.diff(points[order])) / scale)
