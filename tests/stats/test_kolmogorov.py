"""The vectorised Kolmogorov survival function against scipy's, element by element."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import kstwo

from monitor.stats.kolmogorov import TOLERANCE, kstwo_sf

#: statistics anywhere in [0, 1.1], and on the scale of the null (sqrt(n) d around 0.3 to 3)
scaled = st.floats(0.0, 4.0)


def samples(smallest: int, largest: int, top: float) -> st.SearchStrategy:
    """(n, d) arrays: sizes from ``smallest`` to ``largest``, each statistic anywhere up to
    ``top`` or on the scale of the null."""

    def arrays(cases: list[tuple[int, float, bool, float]]) -> tuple[np.ndarray, np.ndarray]:
        n = np.array([c[0] for c in cases], dtype=np.float64)
        d = [c[1] if c[2] or not c[0] else min(c[3] / np.sqrt(c[0]), 1.0) for c in cases]
        return n, np.array(d)

    case = st.tuples(st.integers(smallest, largest), st.floats(0.0, top), st.booleans(), scaled)
    return st.lists(case, min_size=1, max_size=40).map(arrays)


@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")  # scipy at n == 0
@settings(deadline=None, max_examples=300)
@given(samples(0, 3000, 1.1))
def test_equals_scipy_within_the_tolerance(sample):
    n, d = sample
    expected = np.clip(kstwo.sf(d, n), 0.0, 1.0)
    np.testing.assert_allclose(kstwo_sf(d, n), expected, rtol=TOLERANCE, atol=0)


#: (n, d) in each of scipy's branches
BRANCHES = [
    (600, 0.05),  # Pelz-Good
    (600, 0.5),  # exact 2 * smirnov
    (600, 0.0005),  # below 1 / 2n: 1
    (600, 1.0),  # 0
    (600, 0.01),  # Durbin's matrix (scipy's own)
    (600, 0.0012),  # Ruben-Gambino, n d <= 1, large n
    (600, 0.999),  # Ruben-Gambino, n d >= n - 1
    (600, 0.2),  # Miller's 2 * smirnov
    (1100, 0.6),  # exact 2 * smirnov although n d^2 >= 370
    (2000, 0.45),  # n d^2 >= 370: 0
    (50, 0.05),  # Durbin's matrix, small n
    (50, 0.2),  # Pomeranz's recursion
    (50, 0.015),  # Ruben-Gambino, n d <= 1, small n
    (50, 0.7),  # exact 2 * smirnov, small n
    (200_000, 0.001),  # Pelz-Good past Durbin's range
    (3, 0.4),  # Durbin's matrix, tiny n
    (0, 0.3),  # not a sample size: nan
]


def test_every_branch_against_scipy():
    n, d = (np.array(column, dtype=np.float64) for column in zip(*BRANCHES))
    with np.errstate(divide="ignore"):  # scipy at n == 0
        expected = np.clip(kstwo.sf(d, n), 0.0, 1.0)
    assert np.isnan(kstwo_sf(d, n)[-1])
    np.testing.assert_allclose(kstwo_sf(d, n), expected, rtol=TOLERANCE, atol=0)


@settings(deadline=None, max_examples=200)
@given(st.lists(st.tuples(st.integers(1, 12_000), st.floats(0.0, 1.0)), min_size=1, max_size=30))
def test_durbins_matrix_for_many_sizes_at_once_equals_scipys(cases):
    """Statistics in Durbin's range (``n d^1.5 <= 1.4``, or ``n d^2 <= 0.75`` up to n = 140),
    many sizes in one call: the stacked matrix powers agree with scipy's one by one."""
    n = np.array([c[0] for c in cases], dtype=np.float64)
    limit = np.where(n <= 140, np.sqrt(0.754693 / n), (1.4 / n) ** (2 / 3))
    d = np.array([c[1] for c in cases]) * limit
    np.testing.assert_allclose(kstwo_sf(d, n), kstwo.sf(d, n), rtol=TOLERANCE, atol=0)


@settings(deadline=None, max_examples=200)
@given(
    st.lists(
        st.tuples(st.integers(1, 200_000), scaled, st.floats(0.0, 1.0), st.booleans()),
        min_size=2,
        max_size=30,
    )
)
def test_each_element_is_what_it_is_alone(cases):
    """Windows evaluated together stack their statistics into one call: every element's
    p-value must be bit for bit the one it gets alone, whatever is beside it."""
    n = np.array([c[0] for c in cases], dtype=np.float64)
    d = np.array([min(c[1] / np.sqrt(c[0]), 1.0) if c[3] else c[2] for c in cases])
    together = kstwo_sf(d, n)
    alone = np.concatenate([kstwo_sf(d[i : i + 1], n[i : i + 1]) for i in range(n.size)])
    np.testing.assert_array_equal(together, alone)


@settings(deadline=None, max_examples=200)
@given(samples(1, 1200, 1.0))
def test_the_one_sided_tail_equals_scipys(sample):
    """Birnbaum and Tingey's sum in long double (up to n = 1000, on x86; scipy's own beyond
    and for what it returns as subnormal or 0) against ``scipy.special.smirnov``."""
    from scipy.special import smirnov

    from monitor.stats.kolmogorov import _smirnov

    n, d = sample
    np.testing.assert_allclose(_smirnov(n, d), smirnov(n, d), rtol=TOLERANCE, atol=0)
