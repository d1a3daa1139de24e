"""Isotonic calibration on the reference, the per-bin calibration check, and the calibrated
estimate under covariate shift (issue 12)."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.isotonic import IsotonicRegression

from monitor.config import ModelConfig
from monitor.performance import (
    ClassificationState,
    EstimationState,
    ReliabilityTable,
    calibration_report,
)
from monitor.performance.calibration import CalibrationMap, fit_isotonic
from monitor.performance.estimation import calibration_text, reference_calibration_map
from monitor.performance.pane import PerformancePane
from monitor.performance.window import evaluate_performance
from monitor.reference import ReferenceProfile
from monitor.segments import SegmentPlan

METRICS = ("accuracy", "f1", "roc_auc")


def shifted(seed: int, n: int, shift: float) -> tuple[np.ndarray, np.ndarray]:
    """Labels and miscalibrated scores of a model under covariate shift.

    The feature ``x ~ N(shift, 1)`` moves; ``P(y = 1 | x) = sigmoid(2.5 x)`` does not (covariate
    shift), and the model's score is that probability squared: ranked right, far too low.
    """
    rng = np.random.default_rng(seed)
    p = 1.0 / (1.0 + np.exp(-2.5 * rng.normal(shift, 1.0, n)))
    return (rng.random(n) < p).astype(np.int64), p**2


def window(seed: int, n: int, shift: float) -> tuple[EstimationState, ClassificationState]:
    y, score = shifted(seed, n, shift)
    predicted = (score >= 0.5).astype(np.int64)
    estimated, realized = EstimationState(), ClassificationState(("0", "1"), positive="1")
    estimated.update(score, predicted)
    realized.update(y, predicted, score)
    return estimated, realized


# -- the isotonic fit -------------------------------------------------------------------------
# Scores on a grid of 1e-6: scikit-learn pools scores less than 1e-15 apart, we pool equal ones.
scores = st.lists(
    st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.75, 1.0])
    | st.integers(0, 10**6).map(lambda k: k / 1e6),
    min_size=1,
    max_size=200,
)


@settings(max_examples=200, deadline=None)
@given(scores, st.randoms(use_true_random=False))
def test_isotonic_fit_is_monotone_and_predicts_as_scikit_learn(s, rnd):
    score = np.array(s)
    positive = np.array([rnd.random() < 0.5 for _ in s])
    g = fit_isotonic(score, positive)
    assert np.all(np.diff(g.knots) > 0) and np.all(np.diff(g.values) >= 0)
    assert g.values.min() >= 0 and g.values.max() <= 1 and g.rows == len(s)
    sk = IsotonicRegression(out_of_bounds="clip").fit(score, positive)
    probe = np.r_[score, np.linspace(-0.1, 1.1, 61)]
    np.testing.assert_allclose(g(probe), sk.predict(probe), atol=1e-12)


def test_isotonic_fit_on_many_rows_keeps_few_knots_and_matches_scikit_learn():
    y, score = shifted(1, 50_000, 0.0)
    g = fit_isotonic(score, y)
    assert g.knots.size < 1_000  # the payload stays small
    probe = np.random.default_rng(2).random(10_000)
    sk = IsotonicRegression(out_of_bounds="clip").fit(score, y)
    np.testing.assert_allclose(g(probe), sk.predict(probe), atol=1e-12)


def test_isotonic_fit_errors():
    with pytest.raises(ValueError, match="calibration needs at least one labeled score"):
        fit_isotonic([], [])
    with pytest.raises(ValueError, match="scores must be finite"):
        fit_isotonic([0.5, np.nan], [1, 0])
    with pytest.raises(ValueError, match=re.escape("must be 1-d of one length, got (2,), (1,)")):
        fit_isotonic([0.5, 0.6], [1])


# -- the calibration check --------------------------------------------------------------------
def test_the_check_flags_squared_scores():
    y, score = shifted(0, 20_000, 0.0)
    report = calibration_report(ReliabilityTable.of(score, y == 1))
    assert not report["calibrated"] and report["off_bins"]
    assert all(report["deviations"][k] > 0.05 for k in report["off_bins"])  # scores too low


def test_the_check_sees_a_sparse_bin_off_that_the_ece_hides():
    """The issue's case: most rows in the extreme deciles, right there; a middle decile off."""
    rng = np.random.default_rng(3)
    score = np.r_[
        rng.uniform(0.0, 0.1, 9_000), rng.uniform(0.9, 1.0, 9_000), rng.uniform(0.3, 0.4, 400)
    ]
    truth = np.r_[score[:18_000], score[18_000:] + 0.15]  # the middle decile is 0.15 too low
    positive = rng.random(score.size) < truth
    report = calibration_report(ReliabilityTable.of(score, positive))
    assert report["ece"] <= report["tolerance"]  # the old check passed it
    assert report["off_bins"] == [3] and not report["calibrated"]
    text = calibration_text(report)
    assert text.startswith("warning: the reference's scores are not calibrated (")
    assert "decile 0.3-0.4 by +0.1" in text


@pytest.mark.parametrize("seed", range(5))
def test_the_check_passes_calibrated_scores(seed):
    rng = np.random.default_rng(seed)
    score = rng.beta(0.5, 0.5, 20_000)  # most rows near 0 and 1, as a confident model's
    report = calibration_report(ReliabilityTable.of(score, rng.random(score.size) < score))
    assert report["calibrated"] and report["off_bins"] == []
    assert calibration_text(report).startswith("scores are calibrated on the reference's 20000")


# -- the calibrated estimate under covariate shift ----------------------------------------------
@pytest.mark.parametrize("shift", [0.0, 0.5, 1.0])
def test_calibration_brings_the_estimate_within_001_of_realized(shift):
    y, score = shifted(0, 50_000, 0.0)  # the reference
    g = fit_isotonic(score, y)
    estimated, realized = window(10 + int(shift * 10), 50_000, shift)
    calibrated, raw, truth = estimated.metrics(g), estimated.metrics(), realized.metrics()
    for key in METRICS:
        assert abs(calibrated[key] - truth[key]) <= 0.01, (key, calibrated[key], truth[key])
    gap = {
        k: max(abs(m[key] - truth[key]) for key in METRICS)
        for k, m in (("g", calibrated), ("raw", raw))
    }
    assert gap["raw"] > 0.01 and gap["g"] < gap["raw"] / 2  # without the map, off


def test_calibrated_estimate_of_an_identity_map_is_the_raw_estimate():
    """With predictions from the threshold and the identity map, both paths agree."""
    estimated, _ = window(4, 20_000, 0.3)
    identity = CalibrationMap(np.array([0.0, 1.0]), np.array([0.0, 1.0]), 2)
    a, b = estimated.metrics(identity), estimated.metrics()
    for key in (*METRICS, "precision", "recall"):
        assert a[key] == pytest.approx(b[key], abs=2e-4), key


def test_calibrated_estimate_splits_the_bin_at_the_threshold():
    state = EstimationState(score_bins=10, threshold=0.35)
    state.update(np.array([0.31, 0.32, 0.38, 0.39, 0.9]))  # bin 3 holds both classes
    g = CalibrationMap(np.array([0.0, 1.0]), np.array([0.5, 0.5]), 10)  # every event a coin
    (tn, fp), (fn, tp) = state.metrics(g)["expected_confusion_matrix"]
    assert [tn, fp, fn, tp] == pytest.approx([1.0, 1.5, 1.0, 1.5])


# -- stored with the reference, applied by the performance window --------------------------------
def test_the_reference_profile_carries_the_map_and_old_payloads_load():
    cfg = ModelConfig.model_validate({"features": {"x": {"kind": "numeric"}}})
    y, score = shifted(5, 2_000, 0.0)
    rows = {"x": score.tolist(), "score": score.tolist(), "label": y.tolist()}
    profile = ReferenceProfile.for_model("m", "1", cfg, rows)
    expected = fit_isotonic(score, y == 1)
    np.testing.assert_array_equal(profile.calibration.knots, expected.knots)
    np.testing.assert_array_equal(profile.calibration.values, expected.values)
    assert reference_calibration_map(cfg, rows).rows == profile.calibration.rows == 2_000
    payload = profile.to_payload()
    loaded = ReferenceProfile.from_payload("m", "1", payload)
    np.testing.assert_array_equal(loaded.calibration.values, expected.values)
    assert loaded.calibration.rows == 2_000
    del payload["calibration"]  # a profile stored before issue 12
    assert ReferenceProfile.from_payload("m", "1", payload).calibration is None
    unlabeled = ReferenceProfile.for_model("m", "1", cfg, {"x": rows["x"], "score": rows["score"]})
    assert unlabeled.calibration is None and "calibration" not in unlabeled.to_payload()


def test_the_performance_window_reads_the_estimate_through_the_map():
    y, score = shifted(6, 20_000, 0.0)
    g = fit_isotonic(score, y)
    yy, ss = shifted(7, 20_000, 0.5)
    pane = PerformancePane("classification", ("0", "1"), "1", 1000, SegmentPlan({}))
    pane.count_predictions(ss, ["1" if s >= 0.5 else "0" for s in ss])
    blobs = [pane.to_bytes()]
    realized = ClassificationState(("0", "1"), "1")
    realized.update(yy, (ss >= 0.5).astype(np.int64), ss)
    calibrated = evaluate_performance(blobs, None, g)["estimated"]
    raw = evaluate_performance(blobs)["estimated"]
    truth, direct = realized.metrics(), pane.estimated.metrics(g)
    for key in METRICS:
        assert calibrated[key] == pytest.approx(direct[key], abs=1e-12)
        assert abs(calibrated[key] - truth[key]) <= 0.01, key
    assert abs(raw["accuracy"] - truth["accuracy"]) > 0.02
