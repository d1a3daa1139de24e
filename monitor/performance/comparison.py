"""Champion/challenger: is the challenger's performance different from the champion's?

Both models see (a share of) the same traffic over the same window. Differences are
challenger minus champion. For accuracy, the confidence interval uses the normal approximation
of the difference of two proportions (unpooled standard error) and the p-value the two-sided
two-proportion z-test (pooled standard error). For MAE, both use the normal approximation of
the difference of two means (Welch's standard error, from each state's sums of absolute and
squared errors).

>>> r = compare_accuracy(850, 1000, 880, 1000)
>>> round(r["accuracy_difference"], 3), *(round(r[k], 4) for k in ("ci_low", "ci_high", "p_value"))
(0.03, 0.0001, 0.0599, 0.0496)
"""

from __future__ import annotations

import math

from monitor.performance.classification import ClassificationState
from monitor.performance.regression import RegressionState

__all__ = ["compare_accuracy", "compare_classifiers", "compare_regressors"]


def _check(confidence: float) -> float:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence!r}")
    from scipy.special import ndtri  # the normal quantile; scipy loads here, not at import

    return float(ndtri(0.5 + confidence / 2))


def _traffic(n_champion: int, n_challenger: int) -> dict:
    total = n_champion + n_challenger
    return {
        "n_champion": n_champion,
        "n_challenger": n_challenger,
        "challenger_share": n_challenger / total if total else None,
    }


def _test(difference: float, se_interval: float, se_test: float, z_crit: float) -> dict:
    from scipy.special import ndtr  # the normal cdf

    z = difference / se_test if se_test > 0 else None
    return {
        "ci_low": difference - z_crit * se_interval,
        "ci_high": difference + z_crit * se_interval,
        "z": z,
        "p_value": None if z is None else float(2 * ndtr(-abs(z))),
    }


def compare_accuracy(
    correct_champion: int,
    n_champion: int,
    correct_challenger: int,
    n_challenger: int,
    confidence: float = 0.95,
) -> dict:
    """Compare two accuracies given as counts of correct predictions out of labeled events.

    Returns
    -------
    dict
        ``n_champion``, ``n_challenger``, ``challenger_share`` (of the labeled events of both),
        ``accuracy_champion``, ``accuracy_challenger``, ``accuracy_difference``, ``ci_low`` and
        ``ci_high`` (the ``confidence`` interval of the difference), ``z`` and ``p_value``
        (None when both models are always right or always wrong), and ``confidence``. The
        statistics are None while either side has no events.

    Examples
    --------
    >>> compare_accuracy(5, 4, 1, 2)
    Traceback (most recent call last):
    ...
    ValueError: correct counts must lie in [0, n], got 5 of 4 and 1 of 2

    """
    z_crit = _check(confidence)
    if not (0 <= correct_champion <= n_champion and 0 <= correct_challenger <= n_challenger):
        raise ValueError(
            "correct counts must lie in [0, n], got "
            f"{correct_champion} of {n_champion} and {correct_challenger} of {n_challenger}"
        )
    out = _traffic(n_champion, n_challenger) | {"confidence": confidence}
    keys = (
        "accuracy_champion",
        "accuracy_challenger",
        "accuracy_difference",
        "ci_low",
        "ci_high",
        "z",
        "p_value",
    )
    if n_champion == 0 or n_challenger == 0:
        return out | dict.fromkeys(keys)
    p_a, p_b = correct_champion / n_champion, correct_challenger / n_challenger
    pooled = (correct_champion + correct_challenger) / (n_champion + n_challenger)
    se = math.sqrt(p_a * (1 - p_a) / n_champion + p_b * (1 - p_b) / n_challenger)
    se_pooled = math.sqrt(pooled * (1 - pooled) * (1 / n_champion + 1 / n_challenger))
    difference = p_b - p_a
    return out | {
        "accuracy_champion": p_a,
        "accuracy_challenger": p_b,
        "accuracy_difference": difference,
        **_test(difference, se, se_pooled, z_crit),
    }


def compare_classifiers(
    champion: ClassificationState, challenger: ClassificationState, confidence: float = 0.95
) -> dict:
    """:func:`compare_accuracy` on the labeled events of two classification states."""
    return compare_accuracy(
        int(champion.confusion.trace()),
        champion.n,
        int(challenger.confusion.trace()),
        challenger.n,
        confidence,
    )


def compare_regressors(
    champion: RegressionState, challenger: RegressionState, confidence: float = 0.95
) -> dict:
    """Compare the mean absolute errors of two regression states.

    Returns
    -------
    dict
        ``n_champion``, ``n_challenger``, ``challenger_share``, ``mae_champion``,
        ``mae_challenger``, ``mae_difference``, ``ci_low``, ``ci_high``, ``z``, ``p_value``
        (None when neither absolute error varies) and ``confidence``. The statistics are None
        until both sides have two events.

    Examples
    --------
    >>> import numpy as np
    >>> a, b = RegressionState(), RegressionState()
    >>> a.update(np.zeros(4), np.array([1.0, -1.0, 2.0, 2.0]))
    >>> b.update(np.zeros(4), np.array([1.0, 1.0, 0.0, 2.0]))
    >>> r = compare_regressors(a, b)
    >>> r["mae_difference"], round(r["ci_low"], 4), round(r["ci_high"], 4)
    (-0.5, -1.48, 0.48)

    """
    z_crit = _check(confidence)
    out = _traffic(champion.n, challenger.n) | {"confidence": confidence}
    keys = ("mae_champion", "mae_challenger", "mae_difference", "ci_low", "ci_high", "z", "p_value")
    if champion.n < 2 or challenger.n < 2:
        return out | dict.fromkeys(keys)
    mae_a, mae_b = champion.abs_error_sum / champion.n, challenger.abs_error_sum / challenger.n
    se = math.sqrt(
        _abs_error_variance(champion) / champion.n + _abs_error_variance(challenger) / challenger.n
    )
    difference = mae_b - mae_a
    return out | {
        "mae_champion": mae_a,
        "mae_challenger": mae_b,
        "mae_difference": difference,
        **_test(difference, se, se, z_crit),
    }


def _abs_error_variance(state: RegressionState) -> float:
    """Sample variance of |error|: the squared errors are the squared absolute errors."""
    n = state.n
    return max(0.0, (state.sq_error_sum - state.abs_error_sum**2 / n) / (n - 1))
