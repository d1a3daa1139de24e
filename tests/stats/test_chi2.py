import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import chi2_contingency

from monitor.stats import Chi2Result, chi2

from .samples import categorical, category_counts


@settings(deadline=None, max_examples=200)
@given(categorical())
def test_chi2_matches_scipy_on_the_non_empty_categories(data):
    ref, cur = data
    reference_vocabulary = np.unique(ref)
    ref_counts = category_counts(reference_vocabulary, ref)
    cur_counts = category_counts(reference_vocabulary, cur)
    result = chi2(ref_counts, cur_counts)
    table = np.array([ref_counts, cur_counts])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        assert result == Chi2Result(0.0, 1.0, 0)
        return
    expected = chi2_contingency(table, correction=False)
    assert result.dof == expected.dof
    assert math.isclose(result.statistic, expected.statistic, rel_tol=1e-9, abs_tol=1e-9)
    assert math.isclose(result.pvalue, expected.pvalue, rel_tol=1e-9, abs_tol=1e-9)


@settings(deadline=None, max_examples=100)
@given(st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 10**6)), min_size=2, max_size=30))
def test_chi2_matches_scipy_on_large_counts(columns):
    ref_counts, cur_counts = np.array(columns).T
    keep = (ref_counts + cur_counts) > 0
    result = chi2(ref_counts, cur_counts)
    if ref_counts.sum() == 0 or cur_counts.sum() == 0:
        assert math.isnan(result.statistic) and math.isnan(result.pvalue) and result.dof == 0
        return
    if keep.sum() < 2:
        assert result == Chi2Result(0.0, 1.0, 0)
        return
    expected = chi2_contingency(np.array([ref_counts[keep], cur_counts[keep]]), correction=False)
    assert result.dof == expected.dof
    assert math.isclose(result.statistic, expected.statistic, rel_tol=1e-9, abs_tol=1e-9)
    assert math.isclose(result.pvalue, expected.pvalue, rel_tol=1e-9, abs_tol=1e-9)


def test_a_single_category_has_nothing_to_test():
    assert chi2([7], [3]) == Chi2Result(0.0, 1.0, 0)
    assert chi2([7, 0, 0], [3, 0, 0]) == Chi2Result(0.0, 1.0, 0)
