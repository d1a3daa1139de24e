"""Row-wise kernels: each statistic for many columns at once.

Row ``i`` of ``ref`` and ``cur`` holds the reference and current counts of column ``i`` over
the same bins (columns with fewer bins padded with zero counts). The scalar statistics
(:func:`monitor.stats.psi`, ...) validate their inputs and call these with one row; the window
evaluation calls them once per window for all numeric columns. No input checks here.

>>> import numpy as np
>>> ref = np.array([[25, 25, 25, 25], [10, 20, 30, 40]])
>>> cur = np.array([[10, 20, 30, 40], [10, 20, 30, 40]])
>>> psi_rows(ref, cur, 1e-4).round(4).tolist()
[0.2282, 0.0]
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from monitor.stats.kolmogorov import kstwo_sf

__all__ = [
    "EXACT_UP_TO",
    "Side",
    "js_rows",
    "ks_pvalue_rows",
    "ks_rows",
    "ks_statistic_rows",
    "psi_rows",
    "side",
    "wasserstein_divisor",
    "wasserstein_rows",
    "wasserstein_steps",
]

#: Effective sample size up to which the KS p-value is the exact ``kstwo.sf`` (see
#: :func:`monitor.stats.kolmogorov.kstwo_sf`).
EXACT_UP_TO = 1000

Rows = NDArray[np.float64]


def _proportions(counts: Rows) -> tuple[Rows, Rows]:
    totals = counts.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return counts / totals[:, None], totals


class Side(NamedTuple):
    """One side of the fine-bin comparisons, what :func:`ks_statistic_rows` and
    :func:`wasserstein_rows` derive from its counts: worked out once for both, and once for
    all windows on the reference's side (:attr:`monitor.sketches.NumericBlock.side`)."""

    share: Rows  # the counts over their row's total
    total: Rows
    cdf: Rows  # the cumulative counts over the total, as scipy's empirical CDFs


def side(counts: Rows) -> Side:
    """The :class:`Side` of ``counts`` (rows of bin counts).

    >>> side(np.array([[1.0, 3.0]])).cdf.tolist()
    [[0.25, 1.0]]
    """
    share, total = _proportions(counts)
    with np.errstate(invalid="ignore", divide="ignore"):  # an empty row: nan
        return Side(share, total, np.cumsum(counts, axis=1) / total[:, None])


def _side(x: Rows | Side) -> Side:
    return x if isinstance(x, Side) else side(x)


def psi_rows(ref: Rows, cur: Rows, eps: float) -> Rows:
    p, n_ref = _proportions(ref)
    q, n_cur = _proportions(cur)
    p, q = np.maximum(p, eps), np.maximum(q, eps)
    out = np.sum((q - p) * np.log(q / p), axis=1)
    return np.where((n_ref == 0) | (n_cur == 0), np.nan, out)


def js_rows(ref: Rows, cur: Rows) -> Rows:
    p, n_ref = _proportions(ref)
    q, n_cur = _proportions(cur)
    m = (p + q) / 2.0
    from scipy.special import rel_entr  # here, not at import: the CLI loads this module

    divergence = np.sum(rel_entr(p, m) + rel_entr(q, m), axis=1) / (2.0 * np.log(2.0))
    out = np.sqrt(np.clip(divergence, 0.0, 1.0))
    return np.where((n_ref == 0) | (n_cur == 0), np.nan, out)


def ks_rows(
    ref: Rows, cur: Rows, atoms: NDArray[np.bool_] | None = None
) -> tuple[Rows, Rows, Rows]:
    """(statistic, p-value, error bound) per row; see :func:`monitor.stats.ks`. ``atoms``: the
    bins that hold a single value (both CDFs jump there alone, so they add no error)."""
    statistic, bound, en = ks_statistic_rows(ref, cur, atoms)
    return statistic, ks_pvalue_rows(statistic, en), bound


def ks_statistic_rows(
    ref: Rows | Side, cur: Rows | Side, atoms: NDArray[np.bool_] | None = None
) -> tuple[Rows, Rows, Rows]:
    """(statistic, error bound, effective sample size) per row: :func:`ks_rows` without the
    p-value (:func:`ks_pvalue_rows` takes the first and the last); nan for an empty row."""
    r, c = _side(ref), _side(cur)
    statistic = np.max(np.abs(r.cdf - c.cdf), axis=1)
    share = np.minimum(r.share, c.share)
    bound = np.max(share if atoms is None else np.where(atoms, 0.0, share), axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        en = np.round(r.total * c.total / (r.total + c.total))
    nan = np.where((r.total == 0) | (c.total == 0), np.nan, 0.0)
    return statistic + nan, bound + nan, en


def ks_pvalue_rows(statistic: Rows, en: Rows) -> Rows:
    """The p-value of each KS ``statistic`` (nan: an empty row) at effective sample size
    ``en``: exact up to :data:`EXACT_UP_TO`, the asymptotic distribution beyond. Element-wise,
    cheap per element and dear per call: windows closing together are evaluated in one call."""
    pvalue = np.full(statistic.shape, np.nan)
    # scipy here, not at import: `monitor windows` loads this module and needs none of it
    from scipy.special import kolmogorov

    present = ~np.isnan(statistic)
    exact = present & (en <= EXACT_UP_TO)
    if exact.any():  # en == 0 (both totals 1) gives nan, as scipy
        pvalue[exact] = kstwo_sf(statistic[exact], en[exact])
    limit = present & (en > EXACT_UP_TO)
    if limit.any():
        root = np.sqrt(en[limit])
        pvalue[limit] = kolmogorov((root + 0.12 + 0.11 / root) * statistic[limit])
    return np.clip(pvalue, 0.0, 1.0)


def wasserstein_rows(points: Rows, ref: Rows | Side, cur: Rows | Side, scale: Rows) -> Rows:
    """Wasserstein-1 between two mass distributions on the SAME sorted points per row,
    divided by ``scale``: the integral of |F - G| between consecutive points."""
    return wasserstein_steps(np.diff(points, axis=1), ref, cur, wasserstein_divisor(scale))


def wasserstein_steps(gaps: Rows, ref: Rows | Side, cur: Rows | Side, divisor: Rows) -> Rows:
    """:func:`wasserstein_rows` from the gaps between the points and the divisors (what a
    geometry keeps for all its windows)."""
    r, c = _side(ref), _side(cur)
    difference = np.cumsum(r.share - c.share, axis=1)[:, :-1]
    out = np.sum(np.abs(difference) * gaps, axis=1) / divisor
    return np.where((r.total == 0) | (c.total == 0), np.nan, out)


def wasserstein_divisor(scale: Rows) -> Rows:
    """What :func:`wasserstein_rows` divides by: the scale, or 1 where it is not positive."""
    return np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)
