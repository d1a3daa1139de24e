"""Conventions every count-based statistic keeps, and its edge cases."""

import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import ks_2samp

from monitor.stats import (
    DEFAULT_THRESHOLDS,
    STATISTICS,
    Statistic,
    bin_points,
    chi2,
    coarse_groups,
    coarsen,
    histogram,
    js_distance,
    ks,
    psi,
    wasserstein,
)

from .samples import fine_edges


def wasserstein_on_bins(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    """Bins at 0, 1, 2, ... as the weighted points."""
    ref_points = np.arange(float(len(ref_counts)))
    cur_points = np.arange(float(len(cur_counts)))
    return wasserstein(ref_points, ref_counts, cur_points, cur_counts, 1.0)


DISTANCES = {
    "psi": psi,
    "js": js_distance,
    "ks": lambda ref, cur: ks(ref, cur).statistic,
    "chi2": lambda ref, cur: chi2(ref, cur).statistic,
    "wasserstein": wasserstein_on_bins,
}
PVALUES = {
    "ks_pvalue": lambda ref, cur: ks(ref, cur).pvalue,
    "chi2_pvalue": lambda ref, cur: chi2(ref, cur).pvalue,
}
ALL = DISTANCES | PVALUES

counts = st.lists(st.integers(0, 1000), min_size=1, max_size=50)


def test_every_registered_statistic_is_covered():
    assert set(ALL) == set(STATISTICS)


@pytest.mark.parametrize("name", sorted(DISTANCES))
@settings(deadline=None, max_examples=50)
@given(counts, st.integers(1, 20))
def test_no_drift_scores_zero_at_any_scale(name, ref_counts, factor):
    ref_counts[0] += 1
    cur_counts = [factor * c for c in ref_counts]
    assert DISTANCES[name](ref_counts, cur_counts) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("name", ["psi", "js", "ks", "wasserstein"])
@settings(deadline=None, max_examples=50)
@given(counts, counts, st.integers(2, 20))
def test_proportions_not_sizes_drive_the_distances(name, ref_counts, cur_counts, factor):
    size = min(len(ref_counts), len(cur_counts))
    ref = np.array(ref_counts[:size]) + 1
    cur = np.array(cur_counts[:size]) + 1
    assert math.isclose(
        DISTANCES[name](ref, cur), DISTANCES[name](factor * ref, cur), rel_tol=1e-9, abs_tol=1e-12
    )


@pytest.mark.parametrize("name", ["psi", "js", "ks", "chi2", "wasserstein"])
@settings(deadline=None, max_examples=50)
@given(counts, counts)
def test_distances_are_symmetric(name, ref_counts, cur_counts):
    size = min(len(ref_counts), len(cur_counts))
    ref = np.array(ref_counts[:size]) + 1
    cur = np.array(cur_counts[:size]) + 1
    forward, backward = DISTANCES[name](ref, cur), DISTANCES[name](cur, ref)
    assert math.isclose(forward, backward, rel_tol=1e-9, abs_tol=1e-12)


@pytest.mark.parametrize("name", sorted(ALL))
def test_an_empty_window_gives_nan(name):
    assert math.isnan(ALL[name]([3, 4, 5], [0, 0, 0]))
    assert math.isnan(ALL[name]([0, 0, 0], [3, 4, 5]))


@pytest.mark.parametrize("name", sorted(set(ALL) - {"wasserstein"}))  # point sets may differ
def test_mismatched_lengths_are_rejected(name):
    message = "ref_counts and cur_counts must have the same length, got 12 and 11"
    with pytest.raises(ValueError, match=re.escape(message)):
        ALL[name](np.ones(12), np.ones(11))


@pytest.mark.parametrize("name", sorted(ALL))
@pytest.mark.parametrize("bad", [-1.0, np.nan, np.inf])
def test_bad_counts_are_rejected(name, bad):
    with pytest.raises(
        ValueError, match=re.escape("cur_counts must contain finite non-negative counts")
    ):
        ALL[name]([1, 2, 3], [1, bad, 3])


@pytest.mark.parametrize("name", sorted(ALL))
def test_counts_must_be_vectors(name):
    with pytest.raises(
        ValueError, match=re.escape("ref_counts must be one-dimensional, got 2 dimensions")
    ):
        ALL[name]([[1, 2]], [1, 2])


def test_psi_needs_a_positive_floor():
    with pytest.raises(ValueError, match=re.escape("eps must be greater than 0, got 0.0")):
        psi([1, 2], [2, 1], eps=0.0)


def test_wasserstein_points_and_counts_pair_up():
    message = "cur_points and cur_counts must have the same length, got 3 and 2"
    with pytest.raises(ValueError, match=re.escape(message)):
        wasserstein([0.0, 1.0], [1, 1], [0.0, 1.0, 2.0], [1, 1], 1.0)
    with pytest.raises(ValueError, match=re.escape("ref_points must be finite")):
        wasserstein([0.0, np.nan], [1, 1], [0.0], [1], 1.0)


def test_a_single_inner_bin():
    edges = np.array([0.0, 1.0])
    ref = np.linspace(0.0, 1.0, 11)
    cur = np.array([-1.0, 0.5, 0.5, 2.0])
    ref_counts, cur_counts = histogram(edges, ref), histogram(edges, cur)
    assert cur_counts.tolist() == [1, 2, 1]
    groups = coarse_groups(1, 10)
    assert groups.tolist() == [0]
    assert psi(coarsen(ref_counts, groups), coarsen(cur_counts, groups)) == 0.0
    assert js_distance(coarsen(ref_counts, groups), coarsen(cur_counts, groups)) == 0.0
    result = ks(ref_counts, cur_counts)
    exact = ks_2samp(ref, cur, method="asymp").statistic
    assert result.statistic <= exact <= result.statistic + result.error_bound


def test_a_constant_reference_and_current():
    ref = np.full(300, 4.2)
    edges = fine_edges(ref, 1000)
    assert edges.size == 2
    ref_counts = histogram(edges, ref)
    same, other = histogram(edges, np.full(50, 4.2)), histogram(edges, np.full(50, 5.0))
    assert ks(ref_counts, same).statistic == 0.0
    assert ks(ref_counts, other).statistic == 1.0 == ks_2samp(ref, np.full(50, 5.0)).statistic
    points = bin_points(edges, edges[0], 5.0)
    assert wasserstein(points, ref_counts, points, same, ref.std()) == 0.0
    assert wasserstein(points, ref_counts, points, other, ref.std()) == pytest.approx(0.8)


def test_all_current_values_beyond_the_reference_range():
    ref = np.random.default_rng(3).uniform(0.0, 1.0, 2000)
    cur = np.random.default_rng(4).uniform(2.0, 3.0, 500)
    edges = fine_edges(ref, 200)
    ref_counts, cur_counts = histogram(edges, ref), histogram(edges, cur)
    assert cur_counts[-1] == cur.size
    groups = coarse_groups(edges.size - 1, 10)
    coarse_ref, coarse_cur = coarsen(ref_counts, groups), coarsen(cur_counts, groups)
    # All current mass lands in the last coarse bin, which holds a tenth of the reference.
    assert coarse_cur.tolist() == [0] * 9 + [cur.size]
    p = coarse_ref / ref.size
    expected = np.sum((p[:-1] - 1e-4) * np.log(p[:-1] / 1e-4)) + (1 - p[-1]) * math.log(1 / p[-1])
    assert psi(coarse_ref, coarse_cur) == pytest.approx(expected, rel=1e-12)
    assert ks(ref_counts, cur_counts).statistic == 1.0
    assert chi2(coarse_ref, coarse_cur).dof == 9


def test_registry():
    assert {name for name, stat in STATISTICS.items() if stat.name == name} == {
        "psi",
        "ks",
        "ks_pvalue",
        "chi2",
        "chi2_pvalue",
        "js",
        "wasserstein",
    }
    assert STATISTICS["chi2"].kinds == {"categorical"}
    assert STATISTICS["wasserstein"].kinds == STATISTICS["ks"].kinds == {"numeric"}
    assert STATISTICS["psi"].kinds == STATISTICS["js"].kinds == {"numeric", "categorical"}
    assert [name for name, stat in STATISTICS.items() if not stat.higher_is_worse] == [
        "ks_pvalue",
        "chi2_pvalue",
    ]
    assert DEFAULT_THRESHOLDS == {
        "psi": (0.1, 0.25),
        "ks": (0.1, 0.2),
        "js": (0.15, 0.25),
        "wasserstein": (0.2, 0.4),
    }
    with pytest.raises(ValueError, match=re.escape("kinds must be a non-empty subset")):
        Statistic("x", frozenset(), True, "")
