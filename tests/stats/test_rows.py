"""The row-wise kernels equal the scalar statistics, row by row."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.stats import js_distance, ks, psi, wasserstein
from monitor.stats.rows import js_rows, ks_rows, psi_rows, wasserstein_rows

counts = st.lists(st.integers(0, 50), min_size=3, max_size=30)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(counts, counts), min_size=1, max_size=5), st.integers(0, 2**32 - 1))
def test_rows_equal_the_scalar_statistics(pairs, seed):
    width = max(max(len(a), len(b)) for a, b in pairs)
    ref = np.zeros((len(pairs), width))
    cur = np.zeros((len(pairs), width))
    for j, (a, b) in enumerate(pairs):
        n = min(len(a), len(b))
        ref[j, :n], cur[j, :n] = a[:n], b[:n]
    rng = np.random.default_rng(seed)
    points = np.cumsum(rng.uniform(0.1, 2.0, size=ref.shape), axis=1)
    scale = rng.uniform(0.5, 3.0, size=len(pairs))
    d, p, b = ks_rows(ref, cur)
    for j in range(len(pairs)):
        np.testing.assert_allclose(
            psi_rows(ref, cur, 1e-4)[j], psi(ref[j], cur[j]), rtol=1e-12, atol=1e-15
        )
        np.testing.assert_allclose(
            js_rows(ref, cur)[j], js_distance(ref[j], cur[j]), rtol=1e-12, atol=1e-15
        )
        np.testing.assert_allclose(
            (d[j], p[j], b[j]), tuple(ks(ref[j], cur[j])), rtol=1e-12, atol=1e-15
        )
        np.testing.assert_allclose(
            wasserstein_rows(points, ref, cur, scale)[j],
            wasserstein(points[j], ref[j], points[j], cur[j], scale[j]),
            rtol=1e-9,
            atol=1e-12,
        )
