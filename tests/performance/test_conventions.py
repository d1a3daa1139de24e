"""Conventions every performance state keeps (in the spirit of River's ``river/checks``).

For every state: merging the states of any split of a stream, in any order and grouping, gives
the one-pass state (to the bit for the integer states, to rounding for regression); a state
survives serialisation; merging an empty state changes nothing; copies are independent; an
empty state reports None metrics instead of raising.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.performance import ClassificationState, EstimationState, RegressionState

from .samples import binary_stream, multiclass_stream, splits


@dataclass(frozen=True)
class Kind:
    new: Callable[[], object]
    stream: Callable[[int, int], tuple[np.ndarray, ...]]
    exact: bool


def scored_with_gaps(seed: int, n: int) -> tuple[np.ndarray, ...]:
    y_true, y_pred, score = binary_stream(seed, n)
    score[np.random.default_rng(seed).random(n) < 0.1] = np.nan  # some events have no score
    score[: n // 50] = np.round(score[: n // 50], 1)  # scores on bin edges
    return y_true, y_pred, score


def regression_stream(seed: int, n: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    y = rng.normal(100.0, 10.0, n)
    y[rng.random(n) < 0.05] = 0.0
    return y, y + rng.normal(0.0, 3.0, n)


KINDS = {
    "binary": Kind(lambda: ClassificationState(("0", "1"), positive="1"), scored_with_gaps, True),
    "binary_unscored": Kind(
        lambda: ClassificationState(("0", "1"), positive="1"),
        lambda s, n: binary_stream(s, n)[:2],
        True,
    ),
    "multiclass": Kind(
        lambda: ClassificationState(("a", "b", "c", "d")),
        lambda s, n: multiclass_stream(s, n, 4),
        True,
    ),
    "estimation": Kind(lambda: EstimationState(), lambda s, n: (binary_stream(s, n)[2],), True),
    "estimation_given_predictions": Kind(
        lambda: EstimationState(score_bins=50), lambda s, n: binary_stream(s, n)[:0:-1], True
    ),
    "regression": Kind(RegressionState, regression_stream, False),
}


def state_of(kind: Kind, columns: tuple[np.ndarray, ...], part: slice = slice(None)):
    state = kind.new()
    state.update(*(c[part] for c in columns))
    return state


def merged(*states):
    out = states[0].copy()
    for s in states[1:]:
        out.merge(s)
    return out


def assert_same(kind: Kind, a, b) -> None:
    if kind.exact:
        assert a == b
        return
    assert a.n == b.n and a.ape_n == b.ape_n
    for key, value in a.metrics().items():
        other = b.metrics()[key]
        assert (value is None and other is None) or math.isclose(
            value, other, rel_tol=1e-9, abs_tol=1e-9
        ), key


@pytest.mark.parametrize("name", sorted(KINDS))
@settings(deadline=None, max_examples=100)
@given(
    seed=st.integers(0, 2**32 - 1), n=st.integers(0, 400), parts=st.integers(1, 6), data=st.data()
)
def test_any_split_merged_in_any_order_is_one_pass(name, seed, n, parts, data):
    kind = KINDS[name]
    columns = kind.stream(seed, n)
    one_pass = state_of(kind, columns)
    pieces = [state_of(kind, columns, part) for part in splits(n, seed, parts)]
    order = data.draw(st.permutations(range(parts)))
    assert_same(kind, merged(*(pieces[i] for i in order)), one_pass)
    # A random grouping: merge neighbours pairwise until one state is left.
    while len(pieces) > 1:
        i = data.draw(st.integers(0, len(pieces) - 2))
        pieces[i : i + 2] = [merged(pieces[i], pieces[i + 1])]
    assert_same(kind, pieces[0], one_pass)


@pytest.mark.parametrize("name", sorted(KINDS))
@settings(deadline=None, max_examples=50)
@given(
    seed=st.integers(0, 2**32 - 1),
    sizes=st.tuples(st.integers(0, 200), st.integers(0, 200), st.integers(0, 200)),
)
def test_merge_is_associative_and_commutative(name, seed, sizes):
    kind = KINDS[name]
    a, b, c = (state_of(kind, kind.stream(seed + i, n)) for i, n in enumerate(sizes))
    assert_same(kind, merged(merged(a, b), c), merged(a, merged(b, c)))
    assert_same(kind, merged(a, b), merged(b, a))


@pytest.mark.parametrize("name", sorted(KINDS))
@pytest.mark.parametrize("n", [0, 1, 500])
def test_serialise_restore_round_trips(name, n):
    kind = KINDS[name]
    state = state_of(kind, kind.stream(n, n))
    data = state.to_bytes()
    restored = type(state).from_bytes(data)
    assert restored == state and restored.to_bytes() == data
    assert restored.metrics() == state.metrics()
    assert state_of(kind, kind.stream(n, n)).to_bytes() == data  # deterministic


@pytest.mark.parametrize("name", sorted(KINDS))
def test_empty_state_is_neutral_and_copies_are_independent(name):
    kind = KINDS[name]
    state = state_of(kind, kind.stream(1, 300))
    before = state.to_bytes()
    state.merge(kind.new())
    assert state.to_bytes() == before
    copy = state.copy()
    copy.merge(state)
    assert state.to_bytes() == before and copy != state


@pytest.mark.parametrize("name", sorted(KINDS))
def test_empty_state_reports_none_metrics(name):
    kind = KINDS[name]
    empty = kind.new()
    m = empty.metrics()
    assert m["n"] == 0
    counts = {"n", "n_scored", "mape_n", "confusion_matrix"}
    assert all(v is None for k, v in m.items() if k not in counts), m
    # An empty batch is a no-op, not an error.
    empty.update(*(c[:0] for c in kind.stream(0, 10)))
    assert empty == kind.new()


@pytest.mark.parametrize("name", sorted(KINDS))
def test_metric_keys_do_not_depend_on_the_data(name):
    kind = KINDS[name]
    assert kind.new().metrics().keys() == state_of(kind, kind.stream(2, 300)).metrics().keys()
