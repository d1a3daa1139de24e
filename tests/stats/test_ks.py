import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import ks_2samp, kstwo

from monitor.stats import histogram, ks
from monitor.stats.kolmogorov import TOLERANCE
from monitor.stats.ks import EXACT_UP_TO

from .samples import drawn, fine_edges


@settings(deadline=None, max_examples=150)
@given(drawn())
def test_binned_statistic_is_within_its_error_bound(case):
    edges = fine_edges(case.ref, case.n_bins)
    result = ks(histogram(edges, case.ref), histogram(edges, case.cur))
    exact = ks_2samp(case.ref, case.cur, method="asymp").statistic
    assert result.statistic <= exact + 1e-12
    assert exact - result.statistic <= result.error_bound + 1e-12


@settings(deadline=None, max_examples=100)
@given(drawn(families=("normal", "lognormal", "uniform")))
def test_error_bound_of_quantile_bins_is_about_one_bin(case):
    assert np.unique(case.ref).size == case.ref.size
    edges = fine_edges(case.ref, case.n_bins)
    result = ks(histogram(edges, case.ref), histogram(edges, case.cur))
    assert result.error_bound <= 1 / case.n_bins + 2 / case.ref.size


@settings(deadline=None, max_examples=20)
@given(
    drawn(min_ref=10_000, max_ref=20_000, families=("normal", "lognormal", "uniform"), bins=(1000,))
)
def test_error_bound_is_small_for_a_thousand_bins(case):
    edges = fine_edges(case.ref, case.n_bins)
    assert edges.size == 1001
    ref_counts = histogram(edges, case.ref)
    result = ks(ref_counts, histogram(edges, case.cur))
    assert result.error_bound <= 0.002
    assert ref_counts.max() <= (case.ref.size - 1) / 1000 + 1
    exact = ks_2samp(case.ref, case.cur, method="asymp").statistic
    assert 0 <= exact - result.statistic <= result.error_bound + 1e-12


@settings(deadline=None, max_examples=150)
@given(drawn())
def test_pvalue_is_the_asymptotic_smirnov_tail(case):
    edges = fine_edges(case.ref, case.n_bins)
    result = ks(histogram(edges, case.ref), histogram(edges, case.cur))
    n, m = case.ref.size, case.cur.size
    en = round(n * m / (n + m))
    exact = np.clip(kstwo.sf(result.statistic, en), 0, 1)
    if en <= EXACT_UP_TO:
        np.testing.assert_allclose(result.pvalue, exact, rtol=TOLERANCE, atol=0)
    else:
        assert abs(result.pvalue - exact) <= 0.005


@settings(deadline=None, max_examples=200)
@given(st.integers(EXACT_UP_TO + 1, 200_000), st.floats(0.0, 0.3))
def test_large_sample_pvalue_stays_close_to_scipy(en, d):
    """Above EXACT_UP_TO the corrected Kolmogorov limit stands in for kstwo.sf."""
    n = 2 * en  # two samples of n: n * n / (n + n) == en
    result = ks([0, n, 0, 0], [0, round(n * (1 - d)), round(n * d), 0])
    assert abs(result.pvalue - kstwo.sf(result.statistic, en)) <= 0.005


@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")  # scipy, both sizes 1
@settings(deadline=None, max_examples=150)
@given(
    st.lists(st.integers(-3, 3), min_size=1, max_size=300),
    st.lists(st.integers(-6, 6), min_size=1, max_size=300),
)
def test_values_on_the_edges_give_scipy_exactly(ref, cur):
    """At most one distinct value per inner bin: no bin hides a CDF step."""
    edges = np.array([-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0, 3.5])
    result = ks(histogram(edges, ref), histogram(edges, cur))
    expected = ks_2samp(ref, cur, method="asymp")
    assert result.statistic == expected.statistic
    # nan when both sizes are 1
    np.testing.assert_allclose(result.pvalue, expected.pvalue, rtol=TOLERANCE, atol=0)


def test_all_current_values_outside_the_range():
    ref = np.random.default_rng(2).standard_normal(500)
    cur = ref.max() + 1 + np.arange(40.0)
    edges = fine_edges(ref, 50)
    result = ks(histogram(edges, ref), histogram(edges, cur))
    assert result.statistic == 1.0 == ks_2samp(ref, cur, method="asymp").statistic
    assert result.error_bound == 0.0
