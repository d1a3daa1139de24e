"""The kernels that windows closing together share (the p-values, and PSI and Jensen-Shannon
over few bins): one call for all of them gives each window, bit for bit, what it gets alone."""

from __future__ import annotations

import functools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.stats.chi2 import chi2_pvalue
from monitor.stats.rise import rise_pvalue
from monitor.stats.rows import js_rows, ks_pvalue_rows, psi_rows
from monitor.stats.stacked import Stacked

_psi = functools.partial(psi_rows, eps=1e-4)


@settings(deadline=None, max_examples=100)
@given(st.lists(st.integers(1, 25), min_size=1, max_size=8), st.integers(0, 2**32 - 1))
def test_stacked_calls_equal_each_call_alone(rows, seed):
    rng = np.random.default_rng(seed)
    calls, expected = Stacked(), []
    for r in rows:  # a window of r columns
        en = rng.choice([1.0, 50.0, 617.0, 1000.0, 5000.0], r)
        statistic = np.where(rng.random(r) < 0.1, np.nan, rng.uniform(0, 3, r) / np.sqrt(en))
        hits = rng.integers(0, 30, r)
        dof = rng.integers(0, 12, r)
        chi = np.where(dof > 0, rng.uniform(0, 60, r), rng.choice([0.0, np.nan], r))
        width = int(rng.choice([3, 10, 51]))  # coarse bins, or a vocabulary and "unseen"
        ref = rng.integers(0, 5000, (r, width)).astype(np.float64)
        cur = rng.integers(0, 50, (r, width)).astype(np.float64) * rng.integers(0, 2, (r, 1))
        for kernel, args in (
            (ks_pvalue_rows, (np.minimum(statistic, 1.0), en)),
            (rise_pvalue, (hits, hits + 100, hits * 2, rng.integers(0, 400, r))),
            (chi2_pvalue, (chi, dof)),
            (_psi, (ref, cur)),
            (js_rows, (ref, cur)),
        ):
            expected.append((calls.add(kernel, *args), kernel(*args)))
    calls.run()
    for handle, alone in expected:
        assert len(calls[handle]) == len(alone)
        for got, want in zip(calls[handle], alone):
            np.testing.assert_array_equal(got, want)


def test_a_chi_square_without_degrees_of_freedom_is_certain_and_an_unknown_one_unknown():
    assert chi2_pvalue(np.array([0.0, np.nan, 3.84]), np.array([0, 0, 1])).round(3).tolist()[
        ::2
    ] == [1.0, 0.05]
    assert np.isnan(chi2_pvalue(np.array([np.nan]), np.array([0])))[0]
