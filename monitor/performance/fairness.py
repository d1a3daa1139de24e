"""Performance gaps between segments (values of a sensitive attribute) of one window.

Given one :class:`~monitor.performance.classification.ClassificationState` per segment, the
gap of a metric is its highest segment value minus its lowest. Three gaps are reported:
accuracy, positive rate (the demographic parity difference) and true-positive rate (the equal
opportunity difference). The last two need binary states; a segment without labeled positives
has no true-positive rate and is left out of that gap. Segments with fewer than ``min_count``
events are reported but left out of every gap, so one small segment cannot dominate.

>>> import numpy as np
>>> from monitor.performance.classification import ClassificationState
>>> a, b = ClassificationState(("0", "1"), "1"), ClassificationState(("0", "1"), "1")
>>> a.update(np.array([1] * 20 + [0] * 20), np.array([1] * 30 + [0] * 10))
>>> b.update(np.array([1] * 20 + [0] * 20), np.array([1] * 10 + [0] * 30))
>>> report = fairness_report({"a": a, "b": b})
>>> report["demographic_parity_difference"], report["equal_opportunity_difference"]
(0.5, 0.5)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from monitor.performance.classification import ClassificationState

__all__ = ["GAPS", "fairness_report"]

#: Gap name -> the metric it compares across segments.
GAPS = {
    "accuracy_gap": "accuracy",
    "demographic_parity_difference": "positive_rate",
    "equal_opportunity_difference": "true_positive_rate",
}


def fairness_report(states: Mapping[str, ClassificationState], min_count: int = 30) -> dict:
    """Per-segment metrics and the highest-minus-lowest gaps between segments.

    Parameters
    ----------
    states
        Segment value -> the classification state of that segment's events.
    min_count
        Segments with fewer labeled events are reported but left out of the gaps.

    Returns
    -------
    dict
        ``segments``: segment -> ``n``, ``accuracy``, ``positive_rate``,
        ``true_positive_rate`` and ``included`` (whether it counts in the gaps); for each gap in
        :data:`GAPS`, its value (None with fewer than two included segments that have the
        metric), and under ``"<gap>_segments"`` the (lowest, highest) segments behind it;
        ``min_count``.

    Examples
    --------
    >>> fairness_report({}, min_count=0)
    Traceback (most recent call last):
    ...
    ValueError: min_count must be a positive integer, got 0

    """
    if isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 1:
        raise ValueError(f"min_count must be a positive integer, got {min_count!r}")
    segments: dict[str, dict[str, Any]] = {}
    for segment, state in states.items():
        m = state.metrics()
        segments[segment] = {key: m.get(key) for key in ("n", *GAPS.values())}
        segments[segment]["included"] = state.n >= min_count
    report: dict = {"segments": segments, "min_count": min_count}
    for gap, key in GAPS.items():
        values: dict[str, float] = {
            s: m[key] for s, m in segments.items() if m["included"] and m[key] is not None
        }
        if len(values) < 2:
            report[gap], report[f"{gap}_segments"] = None, None
            continue
        low, high = min(values, key=values.__getitem__), max(values, key=values.__getitem__)
        report[gap] = values[high] - values[low]
        report[f"{gap}_segments"] = (low, high)
    return report
