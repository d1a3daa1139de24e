"""Raw reference and current samples for checking the statistics against scipy.

For numeric samples hypothesis draws the shape of the data (sizes, distribution, drift,
rounding) and a seed, and numpy draws the values, which keeps thousands of values per
example cheap. Categorical samples are drawn value by value.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st

FINE_BINS = (1, 2, 7, 50, 200, 1000)


@dataclass(frozen=True)
class Drawn:
    ref: np.ndarray
    cur: np.ndarray
    n_bins: int


def fine_edges(ref: np.ndarray, n_bins: int) -> np.ndarray:
    """Edges as the reference profile builds them; a constant reference keeps one bin."""
    edges = np.unique(np.quantile(ref, np.linspace(0.0, 1.0, n_bins + 1)))
    if edges.size == 1:
        edges = np.array([edges[0], np.nextafter(edges[0], np.inf)])
    return edges


def _values(rng: np.random.Generator, family: str, size: int) -> np.ndarray:
    if family == "normal":
        return rng.standard_normal(size)
    if family == "lognormal":
        return rng.lognormal(0.0, 1.0, size)
    if family == "uniform":
        return rng.uniform(-1.0, 1.0, size)
    if family == "rounded":  # ties
        return np.round(rng.standard_normal(size), 1)
    return rng.integers(0, 5, size).astype(np.float64)  # "few": heavy ties


@st.composite
def drawn(
    draw: st.DrawFn,
    min_ref: int = 200,
    max_ref: int = 5000,
    families: tuple[str, ...] = ("normal", "lognormal", "uniform", "rounded", "few"),
    bins: tuple[int, ...] = FINE_BINS,
) -> Drawn:
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    family = draw(st.sampled_from(families))
    location = draw(st.floats(-100.0, 100.0))
    spread = draw(st.floats(0.01, 100.0))
    ref = location + spread * _values(rng, family, draw(st.integers(min_ref, max_ref)))
    cur_family = draw(st.sampled_from((family, *families)))
    shift = draw(st.sampled_from((0.0, 0.1, 1.0, 5.0)))
    stretch = draw(st.sampled_from((1.0, 0.5, 2.0)))
    cur_size = draw(st.integers(1, 3000))
    cur = location + spread * (shift + stretch * _values(rng, cur_family, cur_size))
    if draw(st.booleans()):  # land some current values exactly on the reference values
        picks = rng.integers(0, ref.size, cur_size // 2)
        cur[: picks.size] = ref[picks]
    return Drawn(ref, cur, draw(st.sampled_from(bins)))


VOCABULARY = ("a", "b", "c", "d", "e", "f")


@st.composite
def categorical(draw: st.DrawFn) -> tuple[list[str], list[str]]:
    """A reference over four categories, a current sample that may bring two new ones."""
    ref = draw(st.lists(st.sampled_from(VOCABULARY[:4]), min_size=1, max_size=400))
    cur = draw(st.lists(st.sampled_from(VOCABULARY), min_size=1, max_size=400))
    return ref, cur


def category_counts(reference_vocabulary: np.ndarray, values: list[str]) -> np.ndarray:
    """Counts over the reference vocabulary plus one unseen slot."""
    seen, counts = np.unique(values, return_counts=True)
    known = np.isin(seen, reference_vocabulary)
    slots = np.searchsorted(reference_vocabulary, seen[known])
    out = np.zeros(reference_vocabulary.size + 1, dtype=np.int64)
    out[slots] = counts[known]
    out[-1] = counts[~known].sum()
    return out
