"""What a rule observes in a closed window (or a dict of values) and how bad it is. Pure.

A rule names a statistic. For a closed window it is looked up per column (feature and
prediction drift, data quality) or on the dataset result (dataset drift); for windows fed as
plain values (performance, estimated performance, label coverage, concept drift) it is a key, or
a dotted path, in the values. An observation whose value is missing (None, NaN) does not move the
alert's state.

>>> from monitor.config import RuleConfig
>>> rule = RuleConfig.model_validate({"name": "acc", "kind": "performance", "metric": "accuracy",
...                                   "warning": 0.9, "critical": 0.8})
>>> [level_of(rule, v) for v in (0.95, 0.85, 0.7, None)]
['ok', 'warning', 'critical', None]
>>> drop = RuleConfig.model_validate({"name": "drop", "kind": "performance", "metric": "accuracy",
...     "compare": "relative_drop", "baseline": "reference.accuracy", "critical": 0.1})
>>> obs = observe_values(drop, {"accuracy": 0.72, "reference": {"accuracy": 0.9}})
>>> round(obs[0].value, 3), level_of(drop, obs[0].value)
(0.2, 'critical')
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from monitor.config import DATASET_QUALITY_STATISTICS, RuleConfig
from monitor.drift import ColumnResult, DatasetResult
from monitor.engine import ClosedWindow
from monitor.layout import PREDICTION, SCORE

__all__ = [
    "WINDOW_KINDS",
    "Observation",
    "level_of",
    "lookup",
    "observe_values",
    "observe_window",
    "threshold_of",
]

#: Rule kinds evaluated on closed drift windows; the others are fed as values.
WINDOW_KINDS = frozenset({"feature_drift", "prediction_drift", "dataset_drift", "data_quality"})
_DRIFT_KINDS = frozenset({"feature_drift", "prediction_drift", "dataset_drift"})
_OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}
_UNSEEN_TOP = 5


@dataclass(frozen=True)
class Observation:
    """One value a rule saw: ``subject`` is the feature, or ``""`` for the model as a whole;
    in a segment's window, prefixed by the segment (``region=us/amount``, ``region=us``), which
    the evidence also names (``segment``)."""

    subject: str
    value: float | None
    evidence: dict[str, Any] = field(default_factory=dict)

    def in_segment(self, segment: str) -> Observation:
        """This observation, made in ``segment``'s window.

        >>> Observation("x", 0.3).in_segment("region=us").subject
        'region=us/x'
        """
        return Observation(
            f"{segment}/{self.subject}" if self.subject else segment,
            self.value,
            {**self.evidence, "segment": segment},
        )


def subject_parts(
    subject: str, evidence: Mapping[str, Any] | None
) -> tuple[str | None, str | None]:
    """(segment, feature) of an alert's subject and evidence (None: not in a segment; the
    model or the segment as a whole).

    >>> subject_parts("region=us/x", {"segment": "region=us"}), subject_parts("x", {})
    (('region=us', 'x'), (None, 'x'))
    """
    segment = (evidence or {}).get("segment")
    feature = subject[len(segment) + 1 :] if segment else subject
    return segment, feature or None


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        value = float(value)
        return None if math.isnan(value) or math.isinf(value) else value
    return None


def lookup(values: Mapping[str, Any], path: str) -> float | None:
    """``values[path]``, else the dotted ``path`` walked through nested mappings; None when
    absent or not a finite number.

    >>> lookup({"a": {"b": 2}, "a.c": 3}, "a.b"), lookup({"a.c": 3}, "a.c"), lookup({}, "x")
    (2.0, 3.0, None)
    """
    if path in values:
        return _number(values[path])
    node: Any = values
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return _number(node)


def _transform(rule: RuleConfig, value: float | None, context: Mapping[str, Any]) -> float | None:
    """The value the thresholds apply to: the value itself, or its change from the baseline."""
    if value is None or rule.compare == "value":
        return value
    base = (
        _number(rule.baseline)
        if not isinstance(rule.baseline, str)
        else lookup(context, rule.baseline)
    )
    if base is None:
        return None
    change = base - value if rule.compare.endswith("drop") else value - base
    if rule.compare.startswith("relative"):
        return change / abs(base) if base else None
    return change


def level_of(rule: RuleConfig, value: float | None) -> str | None:
    """``"critical"``, ``"warning"`` or ``"ok"``; None when there is no value to judge."""
    if value is None or math.isnan(value):
        return None
    op = _OPS[rule.comparison or ">="]
    if rule.critical is not None and op(value, rule.critical):
        return "critical"
    if rule.warning is not None and op(value, rule.warning):
        return "warning"
    return "ok"


def threshold_of(rule: RuleConfig, level: str | None) -> float | None:
    """The threshold that ``level`` crossed (the first one otherwise)."""
    if level == "critical":
        return rule.critical
    return rule.warning if rule.warning is not None else rule.critical


def _column_context(col: ColumnResult) -> dict[str, Any]:
    quality = {k: v for k, v in col.quality.items() if k != "unseen_top"}
    context: dict[str, Any] = {
        **col.statistics,
        **quality,
        "count": col.count,
        "missing": col.missing,
    }
    context["statistics"], context["quality"] = col.statistics, quality
    if col.previous is not None:
        context["previous"] = col.previous
    return context


def _column_evidence(rule: RuleConfig, col: ColumnResult) -> dict[str, Any]:
    if rule.kind == "data_quality":
        quality = {k: v for k, v in col.quality.items() if k != "unseen_top"}
        unseen = col.quality.get("unseen_top") or {}
        if unseen:
            quality["unseen_top"] = dict(list(unseen.items())[:_UNSEEN_TOP])
        return {"quality": quality, "count": col.count, "missing": col.missing}
    return {
        "statistics": dict(col.statistics),
        "severity": col.severity,
        "decided_by": col.decided_by,
    }


def _dataset_context(d: DatasetResult, extra: Mapping[str, Any]) -> dict[str, Any]:
    return {
        **d.details,
        "events": d.events,
        "predictions": d.predictions,
        "features": d.features,
        "drifted": d.drifted,
        "drifted_share": d.drifted_share,
        "prediction_drift": d.prediction_drift,
        **extra,
    }


def observe_window(
    rule: RuleConfig, window: ClosedWindow, extra: Mapping[str, Any] | None = None
) -> list[Observation]:
    """What ``rule`` sees in ``window``. ``extra``: dataset-level values from elsewhere (the
    late-event counts of the window). Drift is not judged on baseline windows."""
    if rule.kind not in WINDOW_KINDS:
        return []
    baseline = window.dataset.baseline and rule.kind in _DRIFT_KINDS
    stat = rule.statistic or ""
    if rule.kind == "dataset_drift" or (
        rule.kind == "data_quality" and stat in DATASET_QUALITY_STATISTICS
    ):
        context = _dataset_context(window.dataset, extra or {})
        value = None if baseline else _transform(rule, lookup(context, stat), context)
        evidence: dict[str, Any] = {"events": window.dataset.events}
        if rule.kind == "dataset_drift":
            drifted = set(window.dataset.drifted_features)
            evidence["drifted_share"] = window.dataset.drifted_share
            evidence["features"] = list(window.dataset.drifted_features)
            evidence["statistics"] = {
                c.feature: dict(c.statistics) for c in window.columns if c.feature in drifted
            }
        else:
            evidence.update(sorted((extra or {}).items()))
        return [Observation("", value, evidence)]
    wanted = None if "*" in rule.features else set(rule.features)
    out = []
    for col in window.columns:
        is_prediction = col.feature in (PREDICTION, SCORE)
        if (
            rule.kind == "feature_drift"
            and is_prediction
            or rule.kind == "prediction_drift"
            and not is_prediction
        ):
            continue
        if wanted is not None and col.feature not in wanted:
            continue
        context = _column_context(col)
        value = None if baseline else _transform(rule, lookup(context, stat), context)
        out.append(Observation(col.feature, value, _column_evidence(rule, col)))
    return out


def observe_values(rule: RuleConfig, values: Mapping[str, Any]) -> list[Observation]:
    """What ``rule`` sees in a window fed as values (performance, estimated performance, label
    coverage, concept drift): one observation on the model as a whole."""
    stat = rule.statistic or ""
    value = _transform(rule, lookup(values, stat), values)
    evidence: dict[str, Any] = {
        "values": {k: v for k, v in values.items() if _number(v) is not None}
    }
    return [Observation("", value, evidence)]
