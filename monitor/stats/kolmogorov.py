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
  Miller's approximation else); 0 for ``n > 140`` and ``n d^2 >= 370``. ``smirnov`` is
  Birnbaum and Tingey's sum, which scipy adds in double-double arithmetic one element at a time
  (0.3-0.4 ms at n = 600); here, up to ``n = 1000``, in x86's long double for all elements at
  once (:func:`_smirnov`, half the time).
- ``n > 140`` and ``n d^2 < 2.2``: the Pelz-Good expansion, unless ``n d^{3/2} <= 1.4``.
- ``n d^{3/2} <= 1.4`` (``n <= 100,000``), and ``n <= 140`` with ``n d^2 <= 0.754693``:
  Durbin's matrix. scipy takes one matrix power per element in Python; here the elements that
  share the matrix's size are raised together, a stack of matrices squared at once (small
  statistics, p-values near 1: a window of a few hundred events has many). Up to
  ``n = 10,000``; beyond, and for Pomeranz's recursion (``n <= 140``, ``n d^2 <= 4``), scipy's
  ``kstwo.sf`` itself, element by element.

Accuracy: the vectorised branches perform scipy's arithmetic in scipy's order except for the
order of two short sums in the Pelz-Good expansion, of the product in Ruben and Gambino's
small-``n`` formula, and ``n! / n^n`` from Stirling's series for Durbin's matrix above
``n = 140``, and Birnbaum and Tingey's sum is in long double (64-bit significand) where scipy's
is in double-double (106), so they agree with ``kstwo.sf`` to a few units in the last place:
within :data:`TOLERANCE` (relative) everywhere (tested against scipy).

Pelz-Good, exact ``2 * smirnov``, below ``1 / 2n``, at 1, and Durbin's matrix (scipy's):

>>> kstwo_sf(np.array([0.05, 0.5, 0.0005, 1.0, 0.01]), np.full(5, 600.0)).round(6).tolist()
[0.096244, 0.0, 1.0, 0.0, 1.0]
"""

from __future__ import annotations

import decimal
import functools

import numpy as np
from numpy.typing import NDArray

from monitor.stats.stirling import log_factorial_over_power

__all__ = ["TOLERANCE", "kstwo_sf"]

#: Largest relative difference from ``scipy.stats.kstwo.sf`` (tested).
TOLERANCE = 1e-12

Array = NDArray[np.float64]

_PI2, _PI4, _PI6 = np.pi**2, np.pi**4, np.pi**6
_SQRT2PI, _SQRT3 = np.sqrt(2 * np.pi), np.sqrt(3)
_MIN_LOG = -708  # exp below this underflows: Pelz-Good's CDF is 0
_SMALL_N = 140  # up to here scipy takes the exact algorithms and the plain product
#: Durbin's matrix here up to this n (scipy's up to 100,000): beyond it a log of n! / n^n
#: near -n would cost the last digits of TOLERANCE.
_DURBIN_UP_TO = 10_000
_EP128, _EM128 = 2.0**128, 2.0**-128


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
    out[tail] = 2 * _smirnov(n[tail], d[tail])
    with np.errstate(invalid="ignore"):
        pelz = take(~small & ((n > 100_000) | (n * d**1.5 > 1.4)))
    if pelz.any():
        out[pelz] = 1.0 - _pelz_good_cdf(n[pelz], d[pelz])
    # What is left is Durbin's matrix where scipy takes it, but Pomeranz's recursion for
    # n <= 140 and n d^2 > 0.754693
    durbin = take((small & (square <= 0.754693)) | (~small & (n <= _DURBIN_UP_TO)))
    if durbin.any():
        out[durbin] = 1.0 - _durbin_cdf(n[durbin], d[durbin])
    if todo.any():  # Pomeranz's recursion: scipy's own, element by element
        from scipy.stats import kstwo  # scipy.stats: a third of a second to import

        out[todo] = kstwo.sf(d[todo], n[todo])
    return np.clip(out, 0.0, 1.0)


#: Birnbaum and Tingey's sum in long double (:func:`_smirnov`) up to this n, scipy's beyond
_SUM_UP_TO = 1000
#: x86's 80-bit long double (64-bit significand), in hardware; elsewhere (a double, or a
#: quad emulated in software) scipy's
_EXTENDED = np.finfo(np.longdouble).nmant == 63
_ROWS = 256  # elements a block of terms: (rows, n + 1) long doubles, 4 MB at n = 1000


def _smirnov(n: Array, d: Array) -> Array:
    """``scipy.special.smirnov(n, d)``, ``P(D+_n >= d)``, to :data:`TOLERANCE`. scipy sums
    Birnbaum and Tingey's terms in double-double arithmetic, 0.3-0.4 ms an element at
    n = 600 (a third of a 20-feature window's whole evaluation where features drift); here the
    same sum in long double, all elements at once, where scipy takes it (a p-value it would
    return as a subnormal number, or 0, is scipy's own)."""
    from scipy.special import smirnov  # here, not at import: the CLI loads this module

    out = np.empty(d.shape)
    with np.errstate(invalid="ignore"):
        mine = (n <= _SUM_UP_TO) & (n * d >= 2) & (n * d < n - 1) & (d * np.sqrt(n) > 0.5)
    mine &= _EXTENDED
    rows = np.flatnonzero(mine)
    for start in range(0, rows.size, _ROWS):
        block = rows[start : start + _ROWS]
        out[block] = _birnbaum_tingey(n[block], d[block])
    scipys = ~mine | (out < np.finfo(np.float64).tiny)
    out[scipys] = smirnov(n[scipys], d[scipys])
    return out


def _birnbaum_tingey(n: Array, d: Array) -> Array:
    """``d * sum_j C(n, j) (d + j/n)^(j-1) (1 - d - j/n)^(n-j)`` over ``j < n (1 - d)``, each
    element's terms added in order (the same sum whatever elements are beside it)."""
    ld = np.longdouble
    nn, dd = n.astype(ld)[:, None], d.astype(ld)[:, None]
    nd = nn * dd  # exact: n has at most 10 bits, d 53, long double 64
    last = nn - np.floor(nd) - 1  # the term at j = n d (zero) left out, as scipy's
    j = np.arange(int(last.max()) + 1, dtype=ld)[None, :]
    terms = j <= last
    jj = np.where(terms, j, 0)  # past an element's last term: a harmless stand-in
    factorial = _log_factorials()
    with np.errstate(divide="ignore"):
        logs = (
            factorial[n.astype(np.intp)][:, None]
            - factorial[jj.astype(np.intp)]
            - factorial[(nn - jj).astype(np.intp)]
            + (nn - jj) * np.log((nn - jj - nd) / nn)
            + (jj - 1) * np.log((jj + nd) / nn)
        )
    logs = np.where(terms, logs, -np.inf)
    top = logs.max(axis=1, keepdims=True)
    total = np.cumsum(np.exp(logs - top), axis=1)[:, -1:]
    return (dd * np.exp(top) * total)[:, 0].astype(np.float64)


@functools.cache
def _log_factorials() -> np.ndarray:
    """``log k!`` for k up to :data:`_SUM_UP_TO`, exact to long double's precision (decimal
    logarithms to 40 digits, summed once: 40 ms)."""
    ctx = decimal.Context(prec=40)
    total, text = decimal.Decimal(0), ["0"]
    for k in range(1, _SUM_UP_TO + 1):
        total = ctx.add(total, ctx.ln(decimal.Decimal(k)))
        text.append(str(total))
    return np.array(text, dtype=np.longdouble)


def _durbin_cdf(n: Array, d: Array) -> Array:
    """``P(D_n <= d)`` by Durbin's matrix as Marsaglia, Tsang and Wang compute it (scipy's
    ``_kolmogn_DMTW``): the (k, k) entry of ``H^n`` times ``n! / n^n``, ``H`` of size
    ``2k - 1`` for ``k = ceil(n d)``. Elements sharing ``k`` share the matrix's shape: their
    powers are taken together, squaring a stack of matrices, with scipy's scaling."""
    out = np.empty(n.shape)
    nd = n * d
    k = np.ceil(nd)
    for size in np.unique(k):
        group = np.flatnonzero(k == size)
        out[group] = _durbin_group(n[group], size - nd[group], int(size))
    return out


def _durbin_group(n: Array, h: Array, k: int) -> Array:
    m = 2 * k - 1
    # scipy's sequence of divisions, so that the factorials round as its do
    inverse = [1.0]
    for j in range(1, m + 1):
        inverse.append(inverse[-1] / j)
    w = np.array(inverse[:m])  # 1 / (j - 1)!
    fac = np.array(inverse[1:])  # 1 / j!
    powers = h[:, None] ** np.arange(1, m + 1)
    v = (1.0 - powers) * fac
    v[:, -1] = (1.0 + (np.maximum(2 * h - 1.0, 0) ** m - 2 * powers[:, -1])) * fac[-1]
    rows, cols = np.indices((m, m))
    band = (cols >= 1) & (rows >= cols - 1)
    H = np.zeros((h.size, m, m))
    H[:, band] = w[(rows - cols + 1)[band]]
    H[:, :, 0] = v
    H[:, -1, :] = v[:, ::-1]
    power = np.broadcast_to(np.eye(m), H.shape).copy()
    scale = np.zeros(h.size, np.int64)  # power's, in binary exponent
    h_scale = np.zeros(h.size, np.int64)  # H's
    left = n.astype(np.int64)
    while True:
        odd = np.flatnonzero(left % 2 == 1)
        power[odd] = power[odd] @ H[odd]
        scale[odd] += h_scale[odd]
        left //= 2
        live = np.flatnonzero(left > 0)
        if not live.size:
            break
        H[live] = H[live] @ H[live]
        h_scale[live] *= 2
        big = live[np.abs(H[live, k - 1, k - 1]) > _EP128]
        H[big] /= _EP128
        h_scale[big] += 128
    p = power[:, k - 1, k - 1]
    # times n! / n^n: scipy's running product (rescaled below 2^-128) up to n = 140, its
    # Stirling series in logs above (both within a few units in the last place)
    small = n <= _SMALL_N
    for i in range(1, int(n[small].max(initial=0)) + 1):
        step = small & (i <= n)
        p = np.where(step, i * p / n, p)
        tiny = step & (np.abs(p) < _EM128)
        p = np.where(tiny, p * _EP128, p)
        scale -= np.where(tiny, 128, 0)
    with np.errstate(divide="ignore"):
        out = np.exp(np.log(p) + scale * np.log(2.0) + log_factorial_over_power(n))
    out[small] = np.ldexp(p[small], scale[small])
    return out


def _ruben_gambino_low(n: Array, t: Array) -> Array:
    """``P(D_n <= d)`` for ``1/2 < n d <= 1``: ``n! / n^n (2 n d - 1)^n``."""
    out = np.empty(n.shape)
    small = n <= _SMALL_N
    i = np.arange(1, _SMALL_N + 1)
    ns, base = n[small, None], 2 * t[small, None] - 1
    out[small] = np.where(i <= ns, i * (1.0 / ns) * base, 1.0).prod(axis=1)
    big, tb = n[~small], t[~small]
    out[~small] = np.exp(log_factorial_over_power(big) + big * np.log(2 * tb - 1))
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
    terms[2] += _in_order(k2 * powers) * (_PI2 * _SQRT2PI / (-36 * z3))
    terms[3] += _in_order((root3z + kpi) * (root3z - kpi) * k2 * powers) * (
        _PI2 * _SQRT2PI / (216 * z6)
    )
    terms /= np.power(n * 1.0, np.arange(4)[:, None] / 2.0)
    cdf = ((terms[0] + terms[1]) + terms[2]) + terms[3]
    return np.where(qlog < _MIN_LOG, 0.0, cdf)


def _in_order(terms: Array) -> Array:
    """The sums of the columns of ``terms``, each added first row to last: an element's sum is
    then its own whatever is beside it (``np.sum`` along the rows adds in another order for
    one column than for many), and windows evaluated together get the values they get alone."""
    return np.cumsum(terms, axis=0)[-1] if len(terms) else np.zeros(terms.shape[1:])
