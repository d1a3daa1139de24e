"""Fairness gaps between segments, checked against the segments' raw labels."""

from __future__ import annotations

import numpy as np
import pytest

from monitor.performance import ClassificationState, fairness_report

from .samples import binary_stream


def segment_states(seed: int, sizes: dict[str, int]) -> tuple[dict, dict]:
    states, raw = {}, {}
    for i, (segment, n) in enumerate(sizes.items()):
        y_true, y_pred, score = binary_stream(seed + i, n)
        state = ClassificationState(("0", "1"), positive="1")
        state.update(y_true, y_pred, score)
        states[segment], raw[segment] = state, (y_true, y_pred)
    return states, raw


def test_gaps_match_raw_rates_and_leave_out_small_segments():
    states, raw = segment_states(0, {"a": 400, "b": 250, "c": 90, "tiny": 12})
    report = fairness_report(states)
    assert report["min_count"] == 30
    assert [s for s, m in report["segments"].items() if not m["included"]] == ["tiny"]
    rates = {
        s: {
            "accuracy": np.mean(t == p),
            "positive_rate": np.mean(p == 1),
            "true_positive_rate": np.mean(p[t == 1] == 1),
        }
        for s, (t, p) in raw.items()
    }
    for segment, m in report["segments"].items():
        assert m["n"] == raw[segment][0].size
        for key, value in rates[segment].items():
            assert m[key] == pytest.approx(value, abs=1e-12)
    for gap, key in [
        ("accuracy_gap", "accuracy"),
        ("demographic_parity_difference", "positive_rate"),
        ("equal_opportunity_difference", "true_positive_rate"),
    ]:
        kept = {s: r[key] for s, r in rates.items() if s != "tiny"}
        assert report[gap] == pytest.approx(max(kept.values()) - min(kept.values()), abs=1e-12)
        low, high = report[f"{gap}_segments"]
        assert kept[low] == min(kept.values()) and kept[high] == max(kept.values())


def test_segment_without_positives_has_no_true_positive_rate():
    states, _ = segment_states(1, {"a": 100, "b": 100})
    none = ClassificationState(("0", "1"), positive="1")
    none.update(np.zeros(50, np.int64), np.r_[np.zeros(40, np.int64), np.ones(10, np.int64)])
    report = fairness_report(states | {"none": none})
    assert report["segments"]["none"]["true_positive_rate"] is None
    assert "none" not in report["equal_opportunity_difference_segments"]
    assert report["demographic_parity_difference"] is not None


def test_one_included_segment_gives_no_gaps():
    states, _ = segment_states(2, {"big": 100, "small": 10})
    report = fairness_report(states)
    assert report["accuracy_gap"] is None and report["accuracy_gap_segments"] is None


def test_multiclass_states_only_compare_accuracy():
    states = {}
    for segment, right in (("x", 40), ("y", 30)):
        state = ClassificationState(("a", "b", "c"))
        state.update(
            np.zeros(50, np.int64), np.r_[np.zeros(right, np.int64), np.ones(50 - right, np.int64)]
        )
        states[segment] = state
    report = fairness_report(states)
    assert report["accuracy_gap"] == pytest.approx(0.2)
    assert (
        report["demographic_parity_difference"] is None
        and report["equal_opportunity_difference"] is None
    )
