import re

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from monitor.stats import bin_index, coarse_edges, coarse_groups, coarsen, histogram

from .samples import drawn, fine_edges

finite = st.floats(-1e6, 1e6, allow_nan=False)


@st.composite
def edges_and_values(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    edges = np.unique(draw(st.lists(finite, min_size=2, max_size=30)))
    assume(edges.size >= 2)  # 0.0 and -0.0 are one edge
    extra = draw(st.lists(st.one_of(finite, st.sampled_from(edges.tolist())), max_size=60))
    values = np.array([*extra, -np.inf, np.inf, *edges], dtype=np.float64)
    return edges, values


def expected_bin(edges: np.ndarray, x: float) -> int:
    """The binning convention, written out one value at a time."""
    if x < edges[0]:
        return 0
    if x > edges[-1]:
        return edges.size
    if x == edges[-1]:
        return edges.size - 1
    return next(i for i in range(1, edges.size) if edges[i - 1] <= x < edges[i])


@settings(deadline=None, max_examples=100)
@given(edges_and_values())
def test_bin_index_follows_the_convention(case):
    edges, values = case
    assert bin_index(edges, values).tolist() == [expected_bin(edges, x) for x in values]
    assert bin_index(edges, values).dtype == np.int64


@settings(deadline=None, max_examples=100)
@given(edges_and_values())
def test_histogram_counts_bins_and_skips_missing(case):
    edges, values = case
    with_missing = np.concatenate([values, [np.nan, np.nan]])
    counts = histogram(edges, with_missing)
    assert counts.size == edges.size + 1
    assert (
        counts.tolist()
        == np.bincount([expected_bin(edges, x) for x in values], minlength=edges.size + 1).tolist()
    )


@settings(deadline=None, max_examples=200)
@given(st.integers(1, 3000), st.integers(1, 50))
def test_coarse_groups_split_inner_bins_evenly(n_inner_bins, n_coarse):
    groups = coarse_groups(n_inner_bins, n_coarse)
    assert groups[0] == 0
    assert groups.size == min(n_inner_bins, n_coarse)
    assert (np.diff(groups) > 0).all()
    inner_sizes = np.diff(np.append(groups, n_inner_bins + 1))
    inner_sizes[0] -= 1  # the first coarse bin also holds the underflow
    assert inner_sizes.max() - inner_sizes.min() <= 1
    assert inner_sizes.sum() == n_inner_bins


@settings(deadline=None, max_examples=60)
@given(drawn(), st.integers(1, 20))
def test_coarse_edges_bin_raw_values_like_coarsen(case, n_coarse):
    edges = fine_edges(case.ref, case.n_bins)
    groups = coarse_groups(edges.size - 1, n_coarse)
    interior = coarse_edges(edges, groups)
    for values in (case.ref, case.cur):
        direct = np.bincount(np.searchsorted(interior, values, side="right"), minlength=groups.size)
        assert coarsen(histogram(edges, values), groups).tolist() == direct.tolist()


def test_reference_fills_no_outer_bin():
    ref = np.random.default_rng(1).standard_normal(1000)
    counts = histogram(fine_edges(ref, 50), ref)
    assert counts[0] == counts[-1] == 0
    assert counts.sum() == ref.size


@pytest.mark.parametrize(
    ("edges", "message"),
    [
        ([1.0], "edges must be a one-dimensional array of at least 2 values, got shape (1,)"),
        (
            [[0.0, 1.0]],
            "edges must be a one-dimensional array of at least 2 values, got shape (1, 2)",
        ),
        ([0.0, np.inf], "edges must be finite"),
        ([0.0, 1.0, 1.0], "edges must be strictly increasing"),
    ],
)
def test_bad_edges(edges, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        bin_index(edges, [0.5])


def test_bin_index_rejects_missing_values():
    with pytest.raises(ValueError, match="values must not contain NaN; count missing values"):
        bin_index([0.0, 1.0], [0.5, np.nan])


def test_values_must_be_one_dimensional():
    with pytest.raises(
        ValueError, match=re.escape("values must be one-dimensional, got 2 dimensions")
    ):
        histogram([0.0, 1.0], [[0.5]])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((0, 10), "n_inner_bins must be at least 1, got 0"),
        ((10, 0), "n_coarse must be at least 1, got 0"),
    ],
)
def test_bad_coarse_groups(args, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        coarse_groups(*args)


@pytest.mark.parametrize("groups", [[1, 2], [0, 2, 2], [0, 6], [], [0.0, 1.0]])
def test_bad_groups(groups):
    message = "groups must be strictly increasing integers starting at 0 and below 6"
    with pytest.raises(ValueError, match=re.escape(message)):
        coarsen(np.ones(6), groups)


def test_coarse_edges_keep_the_reference_maximum_in_the_last_inner_bin():
    message = "groups must be strictly increasing integers starting at 0 and below 3"
    with pytest.raises(ValueError, match=re.escape(message)):
        coarse_edges([0.0, 1.0, 2.0], [0, 3])
