import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import wasserstein_distance

from monitor.stats import bin_points, histogram, wasserstein

from .samples import drawn, fine_edges

position = st.floats(-1e3, 1e3, allow_nan=False)


@st.composite
def weighted_points(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    size = draw(st.integers(1, 40))
    points = draw(st.lists(position, min_size=size, max_size=size))
    counts = draw(st.lists(st.integers(0, 1000), min_size=size, max_size=size))
    counts[draw(st.integers(0, size - 1))] += 1  # a non-empty side
    return np.array(points), np.array(counts)


@settings(deadline=None, max_examples=200)
@given(weighted_points(), weighted_points(), st.sampled_from([1.0, 0.37, 25.0, 0.0, -1.0]))
def test_wasserstein_matches_scipy_on_weighted_points(ref, cur, scale):
    (ref_points, ref_counts), (cur_points, cur_counts) = ref, cur
    actual = wasserstein(ref_points, ref_counts, cur_points, cur_counts, scale)
    expected = wasserstein_distance(ref_points, cur_points, ref_counts, cur_counts)
    expected /= scale if scale > 0 else 1.0
    assert math.isclose(actual, expected, rel_tol=1e-9, abs_tol=1e-9)


def tail_mean(values: np.ndarray, fallback: float) -> float:
    return float(values.mean()) if values.size else fallback


@settings(deadline=None, max_examples=100)
@given(drawn())
def test_binned_wasserstein_is_within_its_bound_of_the_raw_distance(case):
    edges = fine_edges(case.ref, case.n_bins)
    ref_counts = histogram(edges, case.ref)
    cur_counts = histogram(edges, case.cur)
    under_mean = tail_mean(case.cur[case.cur < edges[0]], edges[0])
    over_mean = tail_mean(case.cur[case.cur > edges[-1]], edges[-1])
    points = bin_points(edges, under_mean, over_mean)
    std = case.ref.std()
    scale = std if std > 0 else 1.0
    binned = wasserstein(points, ref_counts, points, cur_counts, std)
    exact = wasserstein_distance(case.ref, case.cur) / scale
    widths = np.diff(edges)
    p = ref_counts[1:-1] / ref_counts.sum()
    q = cur_counts[1:-1] / cur_counts.sum()
    bound = 0.5 * np.sum((p + q) * widths) / scale
    # p and q each sum to 1 (all the mass inside): the bound is at most the widest bin, to the
    # rounding of those sums (one unit in the last place over it was found)
    assert bound <= widths.max() / scale * (1 + 1e-12)
    assert abs(binned - exact) <= bound + 1e-9 * (1.0 + exact)


def test_mass_beyond_the_range_is_exact_at_its_mean():
    """Reference values at the bin midpoints, current values beyond the range: no error."""
    edges = np.array([0.0, 1.0, 2.0])
    ref = np.array([0.5, 1.5, 1.5])
    cur = np.array([-7.0, -3.0, 5.0, 10.0, 12.0])
    points = bin_points(edges, -5.0, 9.0)
    np.testing.assert_array_equal(points, [-5.0, 0.5, 1.5, 9.0])
    binned = wasserstein(points, histogram(edges, ref), points, histogram(edges, cur), 1.0)
    assert math.isclose(binned, wasserstein_distance(ref, cur), rel_tol=1e-12)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_bin_points_need_finite_means(bad):
    with pytest.raises(ValueError, match="under_mean and over_mean must be finite"):
        bin_points([0.0, 1.0], bad, 1.0)
