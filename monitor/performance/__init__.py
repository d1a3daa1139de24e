"""Model performance from labeled predictions, estimated performance, fairness and concept drift.

Window state (one per pane, model version and segment) is mergeable and serialisable like the
drift sketches: :class:`ClassificationState` and :class:`EstimationState` merge exactly (all
integers), :class:`RegressionState` up to floating-point rounding. Metrics are pure functions of
merged states. :class:`ConceptDriftMonitor` is sequential and does not merge.
"""

from monitor.performance.classification import (
    RELIABILITY_BINS,
    ClassificationState,
    ReliabilityTable,
)
from monitor.performance.comparison import compare_accuracy, compare_classifiers, compare_regressors
from monitor.performance.drift_detectors import DETECTORS, ConceptDriftMonitor, Detection
from monitor.performance.estimation import (
    CALIBRATION_TOLERANCE,
    EstimationState,
    calibration_report,
)
from monitor.performance.fairness import GAPS, fairness_report
from monitor.performance.regression import RegressionState

__all__ = [
    "CALIBRATION_TOLERANCE",
    "DETECTORS",
    "GAPS",
    "RELIABILITY_BINS",
    "ClassificationState",
    "ConceptDriftMonitor",
    "Detection",
    "EstimationState",
    "RegressionState",
    "ReliabilityTable",
    "calibration_report",
    "compare_accuracy",
    "compare_classifiers",
    "compare_regressors",
    "fairness_report",
]
