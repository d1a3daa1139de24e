"""ClassificationState against scikit-learn on the same labeled pairs."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from monitor.performance import ClassificationState

from .samples import binary_stream, multiclass_stream, splits

BINARY = ("0", "1")


def fed(
    state: ClassificationState, *columns: np.ndarray, parts: int = 5, seed: int = 0
) -> ClassificationState:
    """``state`` updated with ``columns`` in ``parts`` random batches."""
    for part in splits(len(columns[0]), seed, parts):
        state.update(*(c[part] for c in columns))
    return state


def close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-9


@pytest.mark.parametrize("seed, n", [(0, 5000), (1, 200), (2, 37)])
def test_binary_metrics_match_sklearn(seed, n):
    y_true, y_pred, score = binary_stream(seed, n)
    m = fed(ClassificationState(BINARY, positive="1"), y_true, y_pred, score).metrics()
    t, p = np.array(BINARY)[y_true], np.array(BINARY)[y_pred]
    assert m["n"] == m["n_scored"] == n
    assert close(m["accuracy"], skm.accuracy_score(t, p))
    assert close(m["precision"], skm.precision_score(t, p, pos_label="1", zero_division=0))
    assert close(m["recall"], skm.recall_score(t, p, pos_label="1", zero_division=0))
    assert close(m["f1"], skm.f1_score(t, p, pos_label="1", zero_division=0))
    assert close(m["true_positive_rate"], m["recall"])
    assert close(m["positive_rate"], np.mean(p == "1"))
    assert close(m["log_loss"], skm.log_loss(y_true, score, labels=[0, 1]))
    exact_auc = skm.roc_auc_score(y_true, score)
    assert abs(m["roc_auc"] - exact_auc) <= m["roc_auc_error_bound"] + 1e-12
    assert m["confusion_matrix"] == skm.confusion_matrix(t, p, labels=list(BINARY)).tolist()


def test_auc_bound_holds_and_is_tight_with_coarse_bins_and_ties():
    y_true, y_pred, score = binary_stream(3, 3000)
    score = np.round(score, 2)  # ties across and within bins
    for bins in (10, 20, 1000):
        m = fed(ClassificationState(BINARY, "1", score_bins=bins), y_true, y_pred, score).metrics()
        exact = skm.roc_auc_score(y_true, score)
        assert abs(m["roc_auc"] - exact) <= m["roc_auc_error_bound"] + 1e-12
    # With 1000 bins, continuous scores share a bin with a small share of the opposite class.
    y_true, y_pred, score = binary_stream(4, 20_000)
    assert (
        fed(ClassificationState(BINARY, "1"), y_true, y_pred, score).metrics()[
            "roc_auc_error_bound"
        ]
        < 1e-3
    )


def test_per_class_matches_sklearn_average_none():
    y_true, y_pred = multiclass_stream(5, 3000, 5)
    classes = ("a", "b", "c", "d", "e")
    m = fed(ClassificationState(classes), y_true, y_pred).metrics()
    t, p = np.array(classes)[y_true], np.array(classes)[y_pred]
    precision, recall, f1, support = skm.precision_recall_fscore_support(
        t, p, labels=list(classes), average=None, zero_division=0
    )
    for i, c in enumerate(classes):
        got = m["per_class"][c]
        assert close(got["precision"], precision[i]) and close(got["recall"], recall[i])
        assert close(got["f1"], f1[i]) and got["support"] == support[i]


@pytest.mark.parametrize("seed", range(3))
def test_multiclass_averages_match_sklearn(seed):
    classes = tuple("pqrstu")
    y_true, y_pred = multiclass_stream(seed, 4000, len(classes))
    m = fed(ClassificationState(classes), y_true, y_pred, seed=seed).metrics()
    check_multiclass(m, np.array(classes)[y_true], np.array(classes)[y_pred])


def check_multiclass(m: dict, t: np.ndarray, p: np.ndarray) -> None:
    assert close(m["accuracy"], skm.accuracy_score(t, p))
    for average in ("macro", "weighted"):
        for name, fn in (
            ("precision", skm.precision_score),
            ("recall", skm.recall_score),
            ("f1", skm.f1_score),
        ):
            assert close(m[f"{name}_{average}"], fn(t, p, average=average, zero_division=0)), (
                name,
                average,
            )


@settings(deadline=None, max_examples=60)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3)), min_size=1, max_size=60))
def test_small_multiclass_streams_match_sklearn(pairs):
    """Sparse streams hit every zero-division branch (classes only predicted, only labeled)."""
    classes = ("w", "x", "y", "z")
    y_true, y_pred = np.array(pairs).T
    state = ClassificationState(classes)
    state.update(y_true, y_pred)
    check_multiclass(state.metrics(), np.array(classes)[y_true], np.array(classes)[y_pred])


@settings(deadline=None, max_examples=60)
@given(
    st.lists(
        st.tuples(st.integers(0, 1), st.integers(0, 1), st.floats(0, 1)), min_size=1, max_size=60
    )
)
def test_small_binary_streams_match_sklearn(rows):
    y_true, y_pred, score = (np.array(c) for c in zip(*rows))
    state = ClassificationState(("neg", "pos"), positive="pos")
    state.update(y_true, y_pred, score)
    m = state.metrics()
    t, p = np.array(["neg", "pos"])[y_true], np.array(["neg", "pos"])[y_pred]
    assert close(m["precision"], skm.precision_score(t, p, pos_label="pos", zero_division=0))
    assert close(m["recall"], skm.recall_score(t, p, pos_label="pos", zero_division=0))
    assert close(m["f1"], skm.f1_score(t, p, pos_label="pos", zero_division=0))
    if 0 < y_true.sum() < y_true.size:
        assert (
            abs(m["roc_auc"] - skm.roc_auc_score(y_true, score)) <= m["roc_auc_error_bound"] + 1e-12
        )
    else:
        assert m["roc_auc"] is m["roc_auc_error_bound"] is None
    if y_true.sum() == 0:
        assert m["true_positive_rate"] is None
    clipped = np.clip(score, 1e-15, 1 - 1e-15)  # River's clipping (sklearn clips at machine eps)
    expected = -np.mean(np.where(y_true == 1, np.log(clipped), np.log(1 - clipped)))
    assert close(m["log_loss"], expected)


def test_missing_scores_only_leave_the_score_metrics():
    y_true, y_pred, score = binary_stream(6, 2000)
    missing = np.random.default_rng(6).random(2000) < 0.3
    m = fed(
        ClassificationState(BINARY, "1"), y_true, y_pred, np.where(missing, np.nan, score)
    ).metrics()
    assert m["n"] == 2000 and m["n_scored"] == (~missing).sum()
    assert close(m["log_loss"], skm.log_loss(y_true[~missing], score[~missing], labels=[0, 1]))
    exact = skm.roc_auc_score(y_true[~missing], score[~missing])
    assert abs(m["roc_auc"] - exact) <= m["roc_auc_error_bound"] + 1e-12


def test_labels_without_scores_give_no_score_metrics():
    y_true, y_pred, _ = binary_stream(7, 100)
    m = fed(ClassificationState(BINARY, "1"), y_true, y_pred).metrics()
    assert m["n"] == 100 and m["n_scored"] == 0
    assert m["roc_auc"] is m["roc_auc_error_bound"] is m["log_loss"] is None


def test_reliability_table_matches_raw_deciles():
    y_true, y_pred, score = binary_stream(8, 5000)
    table = fed(ClassificationState(BINARY, "1"), y_true, y_pred, score).reliability()
    decile = np.minimum((score * 10).astype(int), 9)
    assert table.counts.tolist() == np.bincount(decile, minlength=10).tolist()
    assert (
        table.positives.tolist() == np.bincount(decile, y_true, minlength=10).astype(int).tolist()
    )
    np.testing.assert_allclose(
        table.score_sums, np.bincount(decile, score, minlength=10), atol=1e-4
    )


def test_positive_class_need_not_be_last():
    y_true, y_pred, score = binary_stream(9, 500)
    # Class "yes" is code 0 here, so the positive label is code 0 and the score its probability.
    state = fed(ClassificationState(("yes", "no"), positive="yes"), 1 - y_true, 1 - y_pred, score)
    m = state.metrics()
    t, p = np.array(["yes", "no"])[1 - y_true], np.array(["yes", "no"])[1 - y_pred]
    assert close(m["precision"], skm.precision_score(t, p, pos_label="yes", zero_division=0))
    assert abs(m["roc_auc"] - skm.roc_auc_score(y_true, score)) <= m["roc_auc_error_bound"] + 1e-12


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"classes": ("a", "a")}, "classes must be at least 2 distinct names, got ('a', 'a')"),
        ({"classes": ("a", "b"), "positive": "c"}, "positive must be one of the classes, got 'c'"),
        (
            {"classes": ("a", "b", "c"), "positive": "a"},
            "a binary state (positive given) needs exactly 2 classes, got 3",
        ),
        (
            {"classes": ("a", "b"), "score_bins": 15},
            "score_bins must be a positive multiple of 10, got 15",
        ),
        (
            {"classes": ("a", "b"), "score_bins": 0},
            "score_bins must be a positive multiple of 10, got 0",
        ),
    ],
)
def test_constructor_errors(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message) + "$"):
        ClassificationState(**kwargs)


def test_update_errors():
    binary = ClassificationState(BINARY, "1")
    with pytest.raises(ValueError, match=re.escape("class codes must lie in [0, 2), got 2")):
        binary.update(np.array([0, 2]), np.array([0, 1]))
    with pytest.raises(ValueError, match=re.escape("class codes must lie in [0, 2), got -1")):
        binary.update(np.array([0, 1]), np.array([-1, 1]))
    with pytest.raises(
        ValueError,
        match=re.escape(
            "y_true and y_pred must be 1-d arrays of the same length, got shapes (2,) and (1,)"
        ),
    ):
        binary.update(np.array([0, 1]), np.array([1]))
    with pytest.raises(ValueError, match=re.escape("scores must lie in [0, 1], got 1.5")):
        binary.update(np.array([0, 1]), np.array([0, 1]), np.array([0.5, 1.5]))
    with pytest.raises(ValueError, match=re.escape("scores must lie in [0, 1], got inf")):
        binary.update(np.array([0, 1]), np.array([0, 1]), np.array([np.inf, 0.5]))
    with pytest.raises(
        ValueError, match=re.escape("score must be a 1-d array of length 2, got shape (3,)")
    ):
        binary.update(np.array([0, 1]), np.array([0, 1]), np.array([0.5, 0.5, 0.5]))
    assert binary == ClassificationState(BINARY, "1")  # a failed update changes nothing
    with pytest.raises(
        ValueError, match="scores need a binary state: pass positive= to ClassificationState"
    ):
        ClassificationState(("a", "b", "c")).update(np.array([0]), np.array([0]), np.array([0.5]))
    with pytest.raises(ValueError, match="a reliability table needs a binary state"):
        ClassificationState(("a", "b")).reliability()


def test_merge_refuses_different_layouts():
    with pytest.raises(
        ValueError, match="cannot merge states with different classes, positive class or score_bins"
    ):
        ClassificationState(BINARY, "1").merge(ClassificationState(BINARY, "1", score_bins=100))
    with pytest.raises(ValueError, match="cannot merge states with different classes"):
        ClassificationState(BINARY).merge(ClassificationState(BINARY, "1"))


def test_metrics_are_plain_python_values():
    y_true, y_pred, score = binary_stream(10, 300)
    m = fed(ClassificationState(BINARY, "1"), y_true, y_pred, score).metrics()
    scalars = {k: v for k, v in m.items() if k not in ("confusion_matrix", "per_class")}
    assert all(type(v) in (int, float) for v in scalars.values()), scalars
