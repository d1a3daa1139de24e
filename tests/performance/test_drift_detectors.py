"""Concept drift detectors on seeded error streams: exact detection indices, as River's tests."""

from __future__ import annotations

import re

import numpy as np
import pytest

from monitor.performance import ConceptDriftMonitor, Detection


def misclassifications(seed: int, before: int, after: int) -> np.ndarray:
    """0/1 errors at rate 0.1, then at rate 0.3 from index ``before``."""
    rng = np.random.default_rng(seed)
    return np.r_[rng.random(before) < 0.1, rng.random(after) < 0.3].astype(np.float64)


def absolute_errors(seed: int, before: int, after: int) -> np.ndarray:
    """|N(0, 1)| errors, then |N(2, 1)| from index ``before``."""
    rng = np.random.default_rng(seed)
    return np.abs(np.r_[rng.normal(0.0, 1.0, before), rng.normal(2.0, 1.0, after)])


def detections(errors: np.ndarray, method: str = "adwin", **params) -> list[Detection]:
    at = np.arange(errors.size)
    return ConceptDriftMonitor(method, **params).update_many(errors, at, at)


@pytest.mark.parametrize(
    "method, params, errors, expected",
    [
        ("adwin", {}, misclassifications(42, 2000, 2000), [2079]),
        ("page_hinkley", {}, misclassifications(42, 2000, 2000), [2208]),
        ("adwin", {}, absolute_errors(42, 1000, 1000), [1023]),
        ("kswin", {"alpha": 1e-4, "seed": 7}, absolute_errors(42, 1000, 1000), [1025]),
    ],
)
def test_jump_is_detected_at_a_known_index(method, params, errors, expected):
    assert [d.position for d in detections(errors, method, **params)] == expected


@pytest.mark.parametrize(
    "method, params, errors",
    [
        ("adwin", {}, misclassifications(7, 20_000, 0)),
        ("page_hinkley", {}, misclassifications(7, 20_000, 0)),
        (
            "kswin",
            {"alpha": 1e-4, "seed": 7},
            absolute_errors(7, 2000, 0),
        ),  # KSWIN runs a KS test per update
    ],
)
def test_no_detection_on_a_stationary_stream(method, params, errors):
    assert detections(errors, method, **params) == []


def test_detections_carry_positions_times_and_method():
    errors = misclassifications(42, 2000, 2000)
    offsets, times = np.arange(errors.size) + 10_000, np.arange(errors.size) * 250
    (found,) = ConceptDriftMonitor("adwin").update_many(errors, offsets, times)
    assert found == Detection(12_079, 2079 * 250, "adwin")
    assert type(found.position) is int and type(found.time) is int


@pytest.mark.parametrize(
    "method, params, errors",
    [
        ("adwin", {}, misclassifications(3, 1500, 1500)),
        ("page_hinkley", {}, misclassifications(3, 1500, 1500)),
        ("kswin", {"alpha": 1e-3, "seed": 1}, absolute_errors(3, 600, 600)),
    ],
)
def test_checkpoint_restores_the_detector_mid_stream(method, params, errors):
    at = np.arange(errors.size)
    one_pass = ConceptDriftMonitor(method, **params).update_many(errors, at, at)
    assert one_pass  # the comparison below means something
    for cut in (errors.size // 3, errors.size // 2 + 17):
        first = ConceptDriftMonitor(method, **params)
        found = first.update_many(errors[:cut], at[:cut], at[:cut])
        restored = ConceptDriftMonitor.from_bytes(first.to_bytes())
        found += restored.update_many(errors[cut:], at[cut:], at[cut:])
        assert found == one_pass and restored.method == method


def test_errors():
    with pytest.raises(
        ValueError,
        match=re.escape("method must be one of 'adwin', 'kswin', 'page_hinkley', got 'ddm'"),
    ):
        ConceptDriftMonitor("ddm")
    message = (
        "errors, positions and times must be 1-d arrays of the same length, got shapes (3,), "
        "(3,) and (2,)"
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        ConceptDriftMonitor().update_many(np.zeros(3), np.arange(3), np.arange(2))
