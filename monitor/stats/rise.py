"""Is a window's rate of something (missing values, values out of range, unseen categories)
significantly above the reference's? One-sided Fisher exact test, for many columns at once.

An absolute threshold on the rate misses a feature that goes from 0% missing to 4.9% in a
window of 10,000 events (a certain change) and flags noise in a window of 50 events. The test
asks how likely a window at least this far above the reference would be if both came from the
same rate: conditional on the total hits of reference and window, the window's hits are
hypergeometric (Fisher's exact test, exact at any size, zeros included).

The hypergeometric tail is summed here rather than by ``scipy.stats.hypergeom``: importing
scipy.stats costs a third of a second, a tenth of a whole ``monitor replay`` of a million
events, for one function of a few lines.

"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from monitor.stats.stirling import stirling_error

__all__ = ["hypergeom_sf", "rise_pvalue"]

# A tail's sum stops when what is left of it is below this share of what is summed.
_REMAINDER = 1e-17


def rise_pvalue(
    ref_hits: ArrayLike, ref_total: ArrayLike, cur_hits: ArrayLike, cur_total: ArrayLike
) -> NDArray[np.float64]:
    """One-sided p-value that the window's rate ``cur_hits / cur_total`` exceeds the reference's
    ``ref_hits / ref_total``, per element: ``scipy.stats.fisher_exact`` on the 2x2 table with
    ``alternative="greater"``, vectorised.

    Parameters
    ----------
    ref_hits, ref_total
        Hits and trials in the reference.
    cur_hits, cur_total
        Hits and trials in the window; where ``cur_total`` is 0 the p-value is nan.

    Returns
    -------
    numpy.ndarray
        p-values in ``[0, 1]``.

    Examples
    --------
    0 missing in 100,000 reference rows, 490 in a window of 10,000; 2% in both:

    >>> rise_pvalue([0, 2000], [100_000, 100_000], [490, 200], [10_000, 10_000]).round(3).tolist()
    [0.0, 0.511]
    >>> rise_pvalue(0, 10, 0, 0).tolist()
    nan

    """
    k_ref, n_ref, k_cur, n_cur = (
        a.astype(np.float64) for a in np.broadcast_arrays(ref_hits, ref_total, cur_hits, cur_total)
    )
    # P(X >= k_cur), X the window's hits among all k_ref + k_cur hits, drawing n_cur rows: 1
    # for a window without hits (most columns of most windows).
    p = np.ones(k_cur.shape)
    some = (k_cur > 0) & (n_cur > 0)
    if some.any():
        p[some] = hypergeom_sf(
            k_cur[some], n_ref[some] + n_cur[some], k_ref[some] + k_cur[some], n_cur[some]
        )
    return np.where(n_cur > 0, np.clip(p, 0.0, 1.0), np.nan)


def hypergeom_sf(
    k: NDArray[np.float64], M: NDArray[np.float64], K: NDArray[np.float64], n: NDArray[np.float64]
) -> NDArray[np.float64]:
    """``P(X >= k)`` for ``X`` hypergeometric: ``n`` draws from ``M`` items of which ``K`` are
    hits (``scipy.stats.hypergeom.sf(k - 1, M, K, n)``), element-wise, for ``k >= 1``.

    The probabilities fall away from the mode on both sides (the distribution is log-concave),
    so the tail beyond the mode is summed from ``k`` outwards, and otherwise the other tail
    from ``k - 1`` outwards and subtracted from 1 (the answer is then at least about a half):
    either way terms shrink, and the sum stops once the rest is provably negligible.

    >>> hypergeom_sf(np.array([3.0, 1.0]), np.array([20.0, 20.0]), np.array([7.0, 7.0]),
    ...              np.array([12.0, 12.0])).round(6).tolist()
    [0.947884, 0.999897]
    """
    lo = np.maximum(0.0, n - (M - K))
    hi = np.minimum(n, K)
    beyond_mode = k > np.floor((n + 1) * (K + 1) / (M + 2))
    start = np.where(beyond_mode, k, k - 1)
    terms = np.where(beyond_mode, hi - k + 1, k - lo)
    tail = _tail(start, terms, np.where(beyond_mode, 1.0, -1.0), M, K, n)
    return np.where(beyond_mode, tail, 1.0 - tail)


def _tail(
    x: NDArray[np.float64],
    left: NDArray[np.float64],
    step: NDArray[np.float64],
    M: NDArray[np.float64],
    K: NDArray[np.float64],
    n: NDArray[np.float64],
) -> NDArray[np.float64]:
    """The sum of ``left`` hypergeometric probabilities from ``x`` in the direction ``step``
    (each term smaller than the one before), in chunks of terms for all elements at once:
    each term is the one before times the ratio of consecutive probabilities."""
    total = np.zeros(x.shape)
    term = np.where(left > 0, np.exp(_log_pmf(np.clip(x, 0.0, n), M, K, n)), 0.0)
    todo = np.flatnonzero(term > 0)
    size = 64
    while todo.size:
        j = np.arange(size, dtype=np.float64)
        at = x[todo, None] + step[todo, None] * j
        up = step[todo, None] > 0
        Mi, Ki, ni = M[todo, None], K[todo, None], n[todo, None]
        # pmf(at + step) / pmf(at): upwards (K-x)(n-x) / ((x+1)(M-K-n+x+1)), downwards the inverse
        num = np.where(up, (Ki - at) * (ni - at), at * (Mi - Ki - ni + at))
        den = np.where(up, (at + 1) * (Mi - Ki - ni + at + 1), (Ki - at + 1) * (ni - at + 1))
        ratio = np.where(j < left[todo, None] - 1, num / np.where(den > 0, den, 1.0), 0.0)
        products = np.cumprod(ratio, axis=1)
        chunk = term[todo, None] * np.concatenate([np.ones((todo.size, 1)), products[:, :-1]], 1)
        total[todo] += np.where(j < left[todo, None], chunk, 0.0).sum(axis=1)
        term[todo] *= products[:, -1]
        x[todo] += step[todo] * size
        left[todo] -= size
        last = ratio[:, -1]
        # Every later ratio is at most the last one (log-concavity): the rest is at most a
        # geometric series from the next term.
        with np.errstate(divide="ignore"):  # a last ratio of 1 (none seen): no bound yet
            rest = term[todo] / np.where(last < 1.0, 1.0 - last, 0.0)
        done = (left[todo] <= 0) | (rest <= _REMAINDER * total[todo])
        todo = todo[~done]
        size *= 2
    return total


def _log_pmf(
    x: NDArray[np.float64], M: NDArray[np.float64], K: NDArray[np.float64], n: NDArray[np.float64]
) -> NDArray[np.float64]:
    """log P(X = x) as R's ``dhyper`` computes it (Loader, 2000): a ratio of three binomial
    probabilities at ``p = n / M``, each from Stirling's error terms and the deviance ``bd0``,
    never a difference of log-factorials (of a million rows, these lose eight digits)."""
    p = n / M
    q = (M - n) / M
    return _log_dbinom(x, K, p, q) + _log_dbinom(n - x, M - K, p, q) - _log_dbinom(n, M, p, q)


def _log_dbinom(
    x: NDArray[np.float64],
    size: NDArray[np.float64],
    p: NDArray[np.float64],
    q: NDArray[np.float64],
) -> NDArray[np.float64]:
    """log of the binomial probability of ``x`` in ``size`` trials (``q = 1 - p``, given
    separately so that neither loses digits): R's ``dbinom_raw``."""
    inner = (x > 0) & (x < size) & (p > 0) & (q > 0)
    # Elsewhere any valid stand-in (1 of 2 at a half), so that no warning fires on the way.
    xi = np.where(inner, x, 1.0)
    pi, qi = (np.where(inner, a, 0.5) for a in (p, q))
    ni = np.where(inner, size, 2.0)
    general = (
        stirling_error(ni)
        - stirling_error(xi)
        - stirling_error(ni - xi)
        - _bd0(xi, ni * pi)
        - _bd0(ni - xi, ni * qi)
        - 0.5 * (np.log(2 * np.pi) + np.log(xi) + np.log1p(-xi / ni))
    )
    with np.errstate(divide="ignore"):  # log(0) = -inf: an impossible count
        edge = np.where(x == 0, size * np.log1p(-p), size * np.log1p(-q))
    edge = np.where((x == 0) | (x == size), np.where(size == 0, 0.0, edge), -np.inf)
    return np.where(inner, general, edge)


def _bd0(x: NDArray[np.float64], mean: NDArray[np.float64]) -> NDArray[np.float64]:
    """The deviance term ``x log(x / mean) + mean - x``, by its series where ``x`` is close to
    ``mean`` (where the formula cancels)."""
    d = x - mean
    near = np.abs(d) < 0.1 * (x + mean)
    far = x * np.log(x / mean) + mean - x
    v = np.where(near, d / (x + mean), 0.0)
    total = d * v
    term = 2 * x * v
    for j in range(1, 100):  # |v| < 0.1: sixteen digits in eight terms
        term = term * v * v
        step = term / (2 * j + 1)
        if not step.any() or np.all(np.abs(step) <= 1e-17 * np.abs(total)):
            break
        total = total + step
    return np.where(near, total, far)
