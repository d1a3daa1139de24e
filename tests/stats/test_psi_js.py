import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import jensenshannon

from monitor.stats import coarse_edges, coarse_groups, coarsen, histogram, js_distance, psi

from .samples import categorical, category_counts, drawn, fine_edges

N_COARSE = 10


def close(actual: float, expected: float) -> bool:
    return math.isclose(actual, expected, rel_tol=1e-9, abs_tol=1e-9)


def expected_psi(ref_counts: np.ndarray, cur_counts: np.ndarray, eps: float = 1e-4) -> float:
    """PSI as a symmetrised KL divergence of the clipped proportions."""
    p = np.clip(ref_counts / ref_counts.sum(), eps, None)
    q = np.clip(cur_counts / cur_counts.sum(), eps, None)
    return float(np.sum(q * np.log(q / p)) + np.sum(p * np.log(p / q)))


def raw_coarse_counts(edges: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Coarse counts straight from raw values, without the fine histogram."""
    groups = coarse_groups(edges.size - 1, N_COARSE)
    interior = coarse_edges(edges, groups)
    return np.bincount(np.searchsorted(interior, values, side="right"), minlength=groups.size)


@settings(deadline=None, max_examples=100)
@given(drawn())
def test_numeric_psi_and_js_match_a_direct_computation(case):
    edges = fine_edges(case.ref, case.n_bins)
    groups = coarse_groups(edges.size - 1, N_COARSE)
    ref_counts = coarsen(histogram(edges, case.ref), groups)
    cur_counts = coarsen(histogram(edges, case.cur), groups)
    ref_direct = raw_coarse_counts(edges, case.ref)
    cur_direct = raw_coarse_counts(edges, case.cur)
    assert close(psi(ref_counts, cur_counts), expected_psi(ref_direct, cur_direct))
    expected_js = jensenshannon(
        ref_direct / ref_direct.sum(), cur_direct / cur_direct.sum(), base=2
    )
    assert close(js_distance(ref_counts, cur_counts), expected_js)


@settings(deadline=None, max_examples=150)
@given(categorical(), st.sampled_from([1e-4, 1e-3, 0.5]))
def test_categorical_psi_and_js_match_a_direct_computation(data, eps):
    ref, cur = data
    reference_vocabulary = np.unique(ref)
    ref_counts = category_counts(reference_vocabulary, ref)
    cur_counts = category_counts(reference_vocabulary, cur)
    assert close(psi(ref_counts, cur_counts, eps=eps), expected_psi(ref_counts, cur_counts, eps))
    expected_js = jensenshannon(ref_counts / len(ref), cur_counts / len(cur), base=2)
    assert close(js_distance(ref_counts, cur_counts), expected_js)


def test_psi_of_a_bin_empty_on_one_side_is_finite():
    assert close(psi([1, 0], [0, 1]), 2 * (1 - 1e-4) * math.log(1 / 1e-4))


def test_js_of_disjoint_supports_is_one():
    assert js_distance([5, 0, 0], [0, 0, 7]) == 1.0
