"""Is a window's rate of something (missing values, values out of range, unseen categories)
significantly above the reference's? One-sided Fisher exact test, for many columns at once.

An absolute threshold on the rate misses a feature that goes from 0% missing to 4.9% in a
window of 10,000 events (a certain change) and flags noise in a window of 50 events. The test
asks how likely a window at least this far above the reference would be if both came from the
same rate: conditional on the total hits of reference and window, the window's hits are
hypergeometric (Fisher's exact test, exact at any size, zeros included).

"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["rise_pvalue"]


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
    k_ref, n_ref, k_cur, n_cur = np.broadcast_arrays(ref_hits, ref_total, cur_hits, cur_total)
    # P(X >= k_cur), X the window's hits among all k_ref + k_cur hits, drawing n_cur rows: 1
    # for a window without hits (most columns of most windows), where scipy is not needed.
    p = np.ones(k_cur.shape)
    some = k_cur > 0
    if some.any():
        from scipy.stats import hypergeom  # here: scipy.stats takes a second to import

        p[some] = hypergeom.sf(
            k_cur[some] - 1, n_ref[some] + n_cur[some], k_ref[some] + k_cur[some], n_cur[some]
        )
    return np.where(n_cur > 0, np.clip(p, 0.0, 1.0), np.nan)
