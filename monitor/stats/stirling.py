"""Stirling's series for factorials in logs, accurate where differences of ``gammaln`` of large
numbers are not: shared by the hypergeometric tail (:mod:`monitor.stats.rise`) and the
Kolmogorov distribution (:mod:`monitor.stats.kolmogorov`).

The error is about ``1 / 12 n``; ``log(20! / 20^20)`` as ``lgamma`` gives it:

>>> stirling_error(np.array([1.0, 20.0, 1e6])).round(15).tolist()
[0.081061466795327, 0.004166319691997, 8.3333333e-08]
>>> round(float(log_factorial_over_power(np.array(20.0))), 12)
-17.579029010326
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

__all__ = ["log_factorial_over_power", "stirling_error"]

Array = NDArray[np.float64]

#: Bernoulli terms B_2j / (2j (2j - 1)) of the series, highest first, as scipy's _ksstats has them.
_SERIES = [
    -2.955065359477124183e-2,
    6.4102564102564102564e-3,
    -1.9175269175269175269e-3,
    8.4175084175084175084e-4,
    -5.952380952380952381e-4,
    7.9365079365079365079e-4,
    -2.7777777777777777778e-3,
    8.3333333333333333333e-2,
]
_LOG_2PI = math.log(2 * math.pi)
#: the error for n = 0..15, where the series is not yet exact
_SMALL = np.array(
    [0.0]
    + [math.lgamma(k + 1.0) - (k + 0.5) * math.log(k) + k - _LOG_2PI / 2 for k in range(1, 16)]
)


def stirling_error(n: Array) -> Array:
    """``log(n!) - log(sqrt(2 pi n) (n / e)^n)`` for whole ``n >= 0``."""
    big = np.maximum(n, 16.0)
    rn = 1.0 / big
    series = rn * np.polyval(_SERIES, rn / big)  # scipy's order of operations
    return np.where(n > 15, series, _SMALL[np.clip(n, 0, 15).astype(np.intp)])


def log_factorial_over_power(n: Array) -> Array:
    """``log(n! / n^n)`` for whole ``n > 15``, without forming ``n log n`` (as scipy does)."""
    return np.log(n) / 2 - n + _LOG_2PI / 2 + stirling_error(n)
