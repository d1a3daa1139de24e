"""Confidence-based estimates against the realized metrics, and the calibration report."""

from __future__ import annotations

import re

import numpy as np
import pytest
from sklearn import metrics as skm

from monitor.performance import ClassificationState, EstimationState, calibration_report

from .samples import binary_stream, splits

ESTIMATED = ("accuracy", "precision", "recall", "f1", "roc_auc")


def states(seed: int, n: int, calibrated: bool) -> tuple[EstimationState, ClassificationState]:
    y_true, y_pred, score = binary_stream(seed, n, calibrated)
    estimated, realized = EstimationState(), ClassificationState(("0", "1"), positive="1")
    for part in splits(n, seed, 4):
        estimated.update(score[part])  # predictions from the 0.5 threshold
        realized.update(y_true[part], y_pred[part], score[part])
    return estimated, realized


@pytest.mark.parametrize("seed", range(3))
def test_estimates_track_realized_metrics_on_calibrated_scores(seed):
    estimated, realized = states(seed, 20_000, calibrated=True)
    e, r = estimated.metrics(), realized.metrics()
    for key in ESTIMATED:
        assert abs(e[key] - r[key]) < 0.02, (key, e[key], r[key])
    report = calibration_report(realized.reliability())
    assert report["calibrated"] and report["ece"] < 0.02 and report["n"] == 20_000


def test_miscalibrated_scores_are_reported_and_mislead_the_estimates():
    estimated, realized = states(0, 20_000, calibrated=False)
    report = calibration_report(realized.reliability())
    assert not report["calibrated"]
    assert report["ece"] > 0.2 and report["max_deviation"] > 0.3
    assert all(d < 0 for d in report["deviations"])  # scores far above the positive rates
    e, r = estimated.metrics(), realized.metrics()
    assert abs(e["precision"] - r["precision"]) > 0.2


def test_expected_confusion_matrix_from_given_predictions():
    score = np.array([0.9, 0.2, 0.7, 0.4])
    state = EstimationState()
    state.update(score, np.array([1, 1, 0, 0]))
    (tn, fp), (fn, tp) = state.metrics()["expected_confusion_matrix"]
    np.testing.assert_allclose([tp, fp, fn, tn], [1.1, 0.9, 1.1, 0.9], atol=1e-7)
    assert state.predicted_counts.tolist() == [2, 2]


def test_threshold_sets_the_predictions():
    score = np.array([0.35, 0.45, 0.9])
    low, high = EstimationState(threshold=0.3), EstimationState(threshold=0.5)
    low.update(score)
    high.update(score)
    assert low.predicted_counts.tolist() == [0, 3] and high.predicted_counts.tolist() == [2, 1]


def test_estimated_auc_is_the_auc_of_expected_positives_and_negatives():
    _, _, score = binary_stream(4, 3000)
    state = EstimationState()
    state.update(score)
    # sklearn with each event twice: positive with weight s, negative with weight 1 - s.
    labels = np.r_[np.ones(score.size), np.zeros(score.size)]
    exact = skm.roc_auc_score(labels, np.r_[score, score], sample_weight=np.r_[score, 1 - score])
    assert abs(state.metrics()["roc_auc"] - exact) < 1e-3


def test_calibration_report_of_an_empty_table():
    report = calibration_report(ClassificationState(("0", "1"), "1").reliability())
    assert report == {
        "n": 0,
        "deviations": None,
        "max_deviation": None,
        "ece": None,
        "p_values": None,
        "off_bins": None,
        "calibrated": None,
        "tolerance": 0.05,
        "alpha": 0.01,
    }


def test_errors():
    with pytest.raises(ValueError, match=re.escape("scores must lie in [0, 1], got nan")):
        EstimationState().update(np.array([0.5, np.nan]))
    with pytest.raises(
        ValueError, match=re.escape("y_pred must hold 0 or 1 (1 = predicted positive)")
    ):
        EstimationState().update(np.array([0.5]), np.array([2]))
    with pytest.raises(
        ValueError, match=re.escape("y_pred must hold 0 or 1 (1 = predicted positive)")
    ):
        EstimationState().update(np.array([0.5]), np.array([0.7]))
    with pytest.raises(
        ValueError, match=re.escape("y_pred must be a 1-d array of length 1, got shape (2,)")
    ):
        EstimationState().update(np.array([0.5]), np.array([1, 0]))
    with pytest.raises(
        ValueError, match=re.escape("score_bins must be a positive multiple of 10, got 7")
    ):
        EstimationState(score_bins=7)
    with pytest.raises(
        ValueError, match="cannot merge estimation states with different score_bins or threshold"
    ):
        EstimationState().merge(EstimationState(threshold=0.4))
    with pytest.raises(ValueError, match=re.escape("tolerance must lie in [0, 1], got -0.1")):
        calibration_report(ClassificationState(("0", "1"), "1").reliability(), tolerance=-0.1)
