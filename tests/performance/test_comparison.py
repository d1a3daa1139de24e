"""Champion/challenger comparisons against formulas written out here, and scipy."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from scipy import stats

from monitor.performance import (
    ClassificationState,
    RegressionState,
    compare_accuracy,
    compare_classifiers,
    compare_regressors,
)


def two_proportions(
    x1: int, n1: int, x2: int, n2: int, confidence: float
) -> tuple[float, float, float]:
    """Wald interval of p2 - p1 and the pooled two-sided z-test p-value, written out."""
    p1, p2 = x1 / n1, x2 / n2
    z_crit = stats.norm.ppf(1 - (1 - confidence) / 2)
    half = z_crit * math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
    p = (x1 + x2) / (n1 + n2)
    z = (p2 - p1) / math.sqrt(p * (1 - p) * (1 / n1 + 1 / n2))
    return p2 - p1 - half, p2 - p1 + half, 2 * (1 - stats.norm.cdf(abs(z)))


@pytest.mark.parametrize(
    "x1, n1, x2, n2, confidence",
    [(850, 1000, 880, 1000, 0.95), (40, 90, 700, 1200, 0.99), (9000, 10000, 2690, 3000, 0.9)],
)
def test_accuracy_difference_matches_the_formulas(x1, n1, x2, n2, confidence):
    r = compare_accuracy(x1, n1, x2, n2, confidence)
    low, high, p_value = two_proportions(x1, n1, x2, n2, confidence)
    assert r["ci_low"] == pytest.approx(low, abs=1e-12) and r["ci_high"] == pytest.approx(
        high, abs=1e-12
    )
    assert r["p_value"] == pytest.approx(p_value, rel=1e-9, abs=1e-15)
    assert r["challenger_share"] == n2 / (n1 + n2)
    assert r["accuracy_difference"] == pytest.approx(x2 / n2 - x1 / n1)


def test_pooled_z_test_squared_is_scipy_chi2_contingency():
    r = compare_accuracy(850, 1000, 880, 1000)
    table = np.array([[850, 150], [880, 120]])
    chi2 = stats.chi2_contingency(table, correction=False)
    assert r["z"] ** 2 == pytest.approx(chi2.statistic, rel=1e-9)
    assert r["p_value"] == pytest.approx(chi2.pvalue, rel=1e-9)


def test_compare_classifiers_reads_the_confusion_diagonal():
    champion, challenger = (
        ClassificationState(("a", "b", "c")),
        ClassificationState(("a", "b", "c")),
    )
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 2000)
    champion.update(y[:1500], np.where(rng.random(1500) < 0.7, y[:1500], (y[:1500] + 1) % 3))
    challenger.update(y[1500:], np.where(rng.random(500) < 0.8, y[1500:], (y[1500:] + 1) % 3))
    r = compare_classifiers(champion, challenger)
    expected = compare_accuracy(
        int(champion.confusion.trace()), 1500, int(challenger.confusion.trace()), 500
    )
    assert r == expected and r["challenger_share"] == 0.25
    assert r["accuracy_challenger"] == challenger.metrics()["accuracy"]


def test_mae_difference_matches_raw_errors():
    rng = np.random.default_rng(1)
    y1, y2 = rng.normal(size=800), rng.normal(size=300)
    p1, p2 = y1 + rng.normal(0, 1.0, 800), y2 + rng.normal(0, 0.8, 300)
    champion, challenger = RegressionState(), RegressionState()
    champion.update(y1, p1)
    challenger.update(y2, p2)
    r = compare_regressors(champion, challenger)
    a1, a2 = np.abs(p1 - y1), np.abs(p2 - y2)
    se = math.sqrt(a1.var(ddof=1) / a1.size + a2.var(ddof=1) / a2.size)
    diff = a2.mean() - a1.mean()
    assert r["mae_difference"] == pytest.approx(diff, rel=1e-9)
    assert r["ci_low"] == pytest.approx(diff - stats.norm.ppf(0.975) * se, rel=1e-9)
    assert r["p_value"] == pytest.approx(2 * stats.norm.sf(abs(diff / se)), rel=1e-6)
    # Welch's t-test on the same absolute errors is close to the normal approximation here.
    assert r["p_value"] == pytest.approx(stats.ttest_ind(a2, a1, equal_var=False).pvalue, abs=2e-3)


def test_no_events_give_none():
    r = compare_accuracy(0, 0, 5, 10)
    assert (
        r["challenger_share"] == 1.0 and r["accuracy_difference"] is None and r["p_value"] is None
    )
    assert compare_accuracy(0, 0, 0, 0)["challenger_share"] is None
    assert compare_regressors(RegressionState(), RegressionState())["mae_difference"] is None


def test_identical_perfect_models_have_no_z():
    r = compare_accuracy(10, 10, 20, 20)
    assert r["accuracy_difference"] == 0.0 and r["z"] is None and r["p_value"] is None


def test_errors():
    with pytest.raises(ValueError, match=re.escape("confidence must lie in (0, 1), got 1.0")):
        compare_accuracy(1, 2, 1, 2, confidence=1.0)
    with pytest.raises(
        ValueError, match=re.escape("correct counts must lie in [0, n], got 1 of 2 and -1 of 2")
    ):
        compare_accuracy(1, 2, -1, 2)
