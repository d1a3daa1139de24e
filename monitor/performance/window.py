"""A performance window: the merge of its panes (every partition), read as metrics."""

from __future__ import annotations

from typing import Any

import numpy as np

from monitor.jsonsafe import json_safe
from monitor.performance.calibration import CalibrationMap
from monitor.performance.classification import ClassificationState
from monitor.performance.estimation import calibration_report
from monitor.performance.fairness import fairness_report
from monitor.performance.pane import PerformancePane
from monitor.stats import psi

__all__ = ["evaluate_performance"]

_ESTIMATED = ("accuracy", "precision", "recall", "f1", "roc_auc")


def evaluate_performance(
    blobs: list[bytes],
    reference_classes: dict[str, int] | None = None,
    calibration: CalibrationMap | None = None,
) -> dict[str, Any]:
    """The ``performance_windows`` row of merged panes: counts, realized and estimated metrics
    (with the estimation error once labels are in), per-segment metrics and fairness gaps, label
    delay quantiles and, for classifiers, label drift against the reference's class balance.
    The estimate reads the scores through the reference's ``calibration`` map when it has one."""
    panes = [PerformancePane.from_bytes(b) for b in blobs]
    window = panes[0]
    for pane in panes[1:]:
        window.merge(pane)
    metrics = window.realized.metrics() if window.labeled else {}
    metrics["coverage"] = window.labeled / window.predictions if window.predictions else None
    metrics["labels_after_horizon"] = window.after_horizon  # counted, not joined
    estimated = None
    if window.estimated is not None and window.estimated.n:
        estimated = window.estimated.metrics(calibration)
        if window.labeled:
            estimated["error"] = {k: _diff(estimated.get(k), metrics.get(k)) for k in _ESTIMATED}
    if (
        isinstance(window.realized, ClassificationState)
        and window.realized.binary
        and window.labeled
    ):
        # Estimation assumes calibrated scores: say so when the labeled pairs show they are not.
        metrics["calibration"] = calibration_report(window.realized.reliability())
    if isinstance(window.realized, ClassificationState) and window.labeled and reference_classes:
        observed = window.realized.confusion.sum(axis=1)
        expected = np.array([reference_classes.get(c, 0) for c in window.classes])
        if expected.sum():
            metrics["label_distribution"] = dict(
                zip(window.classes, (observed / observed.sum()).tolist())
            )
            metrics["label_psi"] = float(psi(expected, observed))
    segments: dict[str, Any] = {}
    for key, states in window.segments.items():
        if not states:
            continue
        segments[key] = {v: s.metrics() for v, s in sorted(states.items())}
        binary = all(isinstance(s, ClassificationState) for s in states.values())
        if binary:
            segments[key]["fairness"] = fairness_report(states)  # type: ignore[arg-type]
    return {
        "predictions": window.predictions,
        "labeled": window.labeled,
        "metrics": json_safe(metrics),
        "estimated": json_safe(estimated) if estimated is not None else None,
        "segments": json_safe(segments) or None,
        "label_delay": window.delay_quantiles(),
    }


def _diff(a: Any, b: Any) -> float | None:
    return None if a is None or b is None else float(a) - float(b)
