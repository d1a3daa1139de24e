r"""Survival function of the two-sided one-sample Kolmogorov-Smirnov statistic, many at once.

:func:`kstwo_sf` is ``scipy.stats.kstwo.sf(d, n)`` for arrays of ``d`` and ``n``: the same
method per element (Simard & L'Ecuyer, 2011, as ``scipy.stats._ksstats._kolmogn`` picks it),
with the closed-form branches evaluated for all elements in a few numpy operations rather than
one Python call each. scipy's ``kstwo.sf`` costs about 0.25 ms per element (a Python loop per
value inside it); a window of a 20-feature model paid 5 ms for it, more than the rest of its
evaluation (cProfile of the 16-model replay in ``bench/pipeline.py``).

Branches, in scipy's order (``t = n d``):

- ``d >= 1``: 0; ``t <= 1/2``: 1; ``n`` not a positive integer: nan.
- ``t <= 1`` and ``t >= n - 1``: Ruben and Gambino's exact formulas.
- ``d >= 1/2``, and where ``n d^2`` is large: ``2 * smirnov(n, d)`` (exact for ``d >= 1/2``,
  Miller's approximation else); 0 for ``n > 140`` and ``n d^2 >= 370``.
- ``n > 140`` and ``n d^2 < 2.2``: the Pelz-Good expansion, unless ``n d^{3/2} <= 1.4``.
- The rest (``n <= 140`` with ``n d^2 <= 4``, and ``n d^{3/2} <= 1.4``: Durbin's matrix and
  Pomeranz's recursion, sequential algorithms) is handed to ``kstwo.sf`` itself. These are
  small statistics (p-values near 1) for large ``n`` and the bulk only below ``n = 141``.

Accuracy: the vectorised branches perform scipy's arithmetic in scipy's order except for the
order of two short sums in the Pelz-Good expansion and of the product in Ruben and Gambino's
small-``n`` formula, so they agree with ``kstwo.sf`` to a few units in the last place:
within :data:`TOLERANCE` (relative) everywhere (tested against scipy).

Pelz-Good, exact ``2 * smirnov``, below ``1 / 2n``, at 1, and Durbin's matrix (scipy's):

>>> kstwo_sf(np.array([0.05, 0.5, 0.0005, 1.0, 0.01]), np.full(5, 600.0)).round(6).tolist()
[0.096244, 0.0, 1.0, 0.0, 1.0]
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["TOLERANCE", "kstwo_sf"]

#: Largest relative difference from ``scipy.stats.kstwo.sf`` (tested).
TOLERANCE = 1e-12

Array = NDArray[np.float64]

_PI2, _PI4, _PI6 = np.pi**2, np.pi**4, np.pi**6
_SQRT2PI, _SQRT3, _LOG_2PI = np.sqrt(2 * np.pi), np.sqrt(3), np.log(2 * np.pi)
_MIN_LOG = -708  # exp below this underflows: Pelz-Good's CDF is 0
#: Bernoulli terms of Stirling's series for log(n! / n^n), as scipy's _ksstats has them.
_STIRLING = [
    -2.955065359477124183e-2,
    6.4102564102564102564e-3,
    -1.9175269175269175269e-3,
    8.4175084175084175084e-4,
    -5.952380952380952381e-4,
    7.9365079365079365079e-4,
    -2.7777777777777777778e-3,
    8.3333333333333333333e-2,
]
_SMALL_N = 140  # up to here scipy takes the exact algorithms and the plain product


def kstwo_sf(d: Array, n: Array) -> Array:
    """``P(D_n > d)`` element-wise, as ``scipy.stats.kstwo.sf(d, n)`` to :data:`TOLERANCE`.

    Parameters
    ----------
    d
        Statistics.
    n
        Sample sizes, the same shape (nan, or not a positive integer: the result is nan).

    Returns
    -------
    numpy.ndarray
        The survival function, in ``[0, 1]``.
    """
    from scipy.special import smirnov  # here, not at import: the CLI loads this module
    from scipy.stats import kstwo

    out = np.full(d.shape, np.nan)
    valid = (n >= 1) & (n == np.round(n))
    with np.errstate(invalid="ignore"):
        t = n * d
        square = t * d
    todo = valid & ~np.isnan(d)
    out[todo & (d >= 1.0)] = 0.0
    todo &= d < 1.0
    out[todo & (t <= 0.5)] = 1.0
    todo &= t > 0.5
    small = n <= _SMALL_N

    def take(where: NDArray[np.bool_]) -> NDArray[np.bool_]:
        nonlocal todo
        chosen = todo & where
        todo &= ~where
        return chosen

    low = take(t <= 1.0)
    if low.any():  # rare: d within 1/n
        out[low] = 1.0 - _ruben_gambino_low(n[low], t[low])
    high = take(t >= n - 1)
    out[high] = 2 * (1.0 - d[high]) ** n[high]
    exact_tail = take(d >= 0.5)
    out[take(~small & (square >= 370.0))] = 0.0
    tail = exact_tail | take(np.where(small, square > 4.0, square >= 2.2))
    out[tail] = 2 * smirnov(n[tail], d[tail])
    with np.errstate(invalid="ignore"):
        pelz = take(~small & ((n > 100_000) | (n * d**1.5 > 1.4)))
    if pelz.any():
        out[pelz] = 1.0 - _pelz_good_cdf(n[pelz], d[pelz])
    if todo.any():  # Durbin's matrix or Pomeranz's recursion: scipy's own, element by element
        out[todo] = kstwo.sf(d[todo], n[todo])
    return np.clip(out, 0.0, 1.0)


def _ruben_gambino_low(n: Array, t: Array) -> Array:
    """``P(D_n <= d)`` for ``1/2 < n d <= 1``: ``n! / n^n (2 n d - 1)^n``."""
    out = np.empty(n.shape)
    small = n <= _SMALL_N
    i = np.arange(1, _SMALL_N + 1)
    ns, base = n[small, None], 2 * t[small, None] - 1
    out[small] = np.where(i <= ns, i * (1.0 / ns) * base, 1.0).prod(axis=1)
    big, tb = n[~small], t[~small]
    rn = 1.0 / big
    log_ratio = np.log(big) / 2 - big + _LOG_2PI / 2 + rn * np.polyval(_STIRLING, rn / big)
    out[~small] = np.exp(log_ratio + big * np.log(2 * tb - 1))
    return out


def _pelz_good_cdf(n: Array, x: Array) -> Array:
    """Pelz and Good's expansion of ``P(D_n <= x)`` in powers of ``1 / sqrt(n)``, with the
    Jacobi theta transforms of its terms (scipy's ``_kolmogn_PelzGood``, one row per term)."""
    z = np.sqrt(n) * x
    z2, z3, z4, z6 = z**2, z**3, z**4, z**6
    qlog = -_PI2 / 8 / z2
    q = np.exp(np.maximum(qlog, _MIN_LOG))
    # rows: the coefficients of 1, m^2, m^4, m^6 in the terms of K0 to K3
    coeffs = np.zeros((4, 4, z.size))
    coeffs[0, 0] = 1.0
    coeffs[1, 0], coeffs[1, 1] = -z2, _PI2 / 4
    coeffs[2, 0] = 6 * z6 + 2 * z4
    coeffs[2, 1] = (2 * z4 - 5 * z2) * _PI2 / 4
    coeffs[2, 2] = _PI4 * (1 - 2 * z2) / 16
    coeffs[3, 0] = -30 * z6 - 90 * z**8
    coeffs[3, 1] = _PI2 * (135 * z4 - 96 * z6) / 4
    coeffs[3, 2] = _PI4 * (-60 * z2 + 212 * z4) / 16
    coeffs[3, 3] = _PI6 * (5 - 30 * z2) / 64
    maxk = np.ceil(16 * z / np.pi)
    terms = np.zeros((4, z.size))
    top = int(maxk.max(initial=0))
    for k in range(top, 0, -1):  # Horner's scheme over odd m = 2k - 1 of c_m q^(m^2)
        m2 = (2 * k - 1) ** 2
        # adding the zero coefficients leaves each sum as scipy's
        c = coeffs[:, 0] + coeffs[:, 1] * m2 + coeffs[:, 2] * m2**2 + coeffs[:, 3] * m2**3
        terms = np.where(k <= maxk, terms * q ** (8 * k) + c, terms)
    terms *= q
    terms *= _SQRT2PI
    terms /= np.stack([z, 6 * z4, 72 * z**7, 6480 * z**10])
    # the other sums, over all integers k up to maxk
    ks = np.arange(top, 0, -1, dtype=np.float64)[:, None]
    k2 = ks**2
    powers = np.where(ks <= maxk, np.exp(-_PI2 / 2 / z2) ** k2, 0.0)
    root3z, kpi = _SQRT3 * z, np.pi * ks
    terms[2] += np.sum(k2 * powers, axis=0) * (_PI2 * _SQRT2PI / (-36 * z3))
    terms[3] += np.sum((root3z + kpi) * (root3z - kpi) * k2 * powers, axis=0) * (
        _PI2 * _SQRT2PI / (216 * z6)
    )
    terms /= np.power(n * 1.0, np.arange(4)[:, None] / 2.0)
    cdf = ((terms[0] + terms[1]) + terms[2]) + terms[3]
    return np.where(qlog < _MIN_LOG, 0.0, cdf)
