"""Prometheus metrics: names, labels and the collectors that read state at scrape time.

Conventions: the ``monitor_`` prefix, base units (seconds, ratios in 0..1), ``_total`` counters.
Label cardinality is bounded by the config: model, version (the ``max_versions`` of each model
most recently seen: the series of an older version are removed when one more shows up), feature
(configured) and
statistic (configured); partitions by the topics' partition counts; reasons by a fixed list;
metric (``PERFORMANCE_METRICS``; bound ``lower``, ``upper``), rule (configured alert rules),
sink (configured sinks) and outcome (``sent``, ``retry``, ``failed``). ``docs/operations.md``
lists every metric.

Gauges defined here but filled elsewhere: ``monitor_model_performance``,
``monitor_model_performance_estimated``, ``monitor_label_coverage_ratio``,
``monitor_pending_labels`` (label join and performance), ``monitor_alerts_firing`` and
``monitor_notifications_total`` (alerts and their sinks).

>>> from prometheus_client import CollectorRegistry, generate_latest
>>> m = Metrics(CollectorRegistry())
>>> m.invalid.labels(topic="predictions", reason="invalid_json").inc()
>>> line = b'monitor_events_invalid_total{reason="invalid_json",topic="predictions"} 1.0'
>>> line in generate_latest(m.registry)
True
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from monitor.drift import SEVERITIES
from monitor.engine import ClosedWindow

__all__ = ["PERFORMANCE_METRICS", "Metrics"]

#: The figures ``monitor_model_performance{,_estimated}`` carry (the ``metric`` label's bound):
#: metrics only. Counts (``n``, labeled, scored) and error bounds go to their own series, so a
#: rule or a panel that compares realized with estimated compares like with like.
PERFORMANCE_METRICS = frozenset(
    {
        "accuracy",
        "precision",
        "recall",
        "f1",
        "roc_auc",
        "log_loss",
        "positive_rate",
        "true_positive_rate",
        "precision_macro",
        "recall_macro",
        "f1_macro",
        "precision_weighted",
        "recall_weighted",
        "f1_weighted",
        "label_psi",
        "mae",
        "rmse",
        "r2",
        "mape",
        "mean_error",
    }
)

_MAX_VERSIONS = 20  # the default of a model's max_versions
_LATENCY = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class _StateCollector(Collector):
    """Gauges whose values live elsewhere (consumer lag, readiness): read at scrape time."""

    def __init__(self, read: Callable[[], Iterable[Metric]]) -> None:
        self.read = read

    def collect(self) -> Iterable[Metric]:
        return self.read()


class Metrics:
    """Every metric of the service, registered in ``registry`` (a fresh one in tests)."""

    def __init__(
        self, registry: CollectorRegistry = REGISTRY, max_versions: Mapping[str, int] | None = None
    ) -> None:
        """``max_versions``: per model, how many versions keep their series (default 20)."""
        self.registry = registry
        self.max_versions = dict(max_versions or {})
        self._versions: dict[str, dict[str, None]] = {}  # model -> versions, least recent first
        self._children: dict[tuple[Any, ...], Any] = {}  # see _child
        r = registry
        self.consumed = Counter(
            "monitor_events_consumed_total",
            "Messages consumed, good and bad",
            ["topic"],
            registry=r,
        )
        self.invalid = Counter(
            "monitor_events_invalid_total",
            "Events rejected, by reason",
            ["topic", "reason"],
            registry=r,
        )
        self.dead_lettered = Counter(
            "monitor_dead_letters_total",
            "Messages written to the dead-letter topic",
            ["reason"],
            registry=r,
        )
        self.checkpoint_seconds = Histogram(
            "monitor_checkpoint_duration_seconds",
            "Checkpoint transaction time",
            buckets=_LATENCY,
            registry=r,
        )
        self.checkpoint_failures = Counter(
            "monitor_checkpoint_failures_total",
            "Checkpoints that failed (database away)",
            registry=r,
        )
        self.window_close_seconds = Histogram(
            "monitor_window_close_duration_seconds",
            "Time to evaluate one closed window",
            buckets=_LATENCY,
            registry=r,
        )
        self.windows_closed = Counter(
            "monitor_windows_closed_total", "Windows closed and persisted", ["model_id"], registry=r
        )
        self.drift = Gauge(
            "monitor_drift_statistic",
            "Latest drift statistic per feature",
            ["model_id", "model_version", "feature", "statistic"],
            registry=r,
        )
        self.severity = Gauge(
            "monitor_drift_severity",
            "Latest severity per feature (0 ok, 1 warning, 2 critical)",
            ["model_id", "model_version", "feature"],
            registry=r,
        )
        self.missing_rate = Gauge(
            "monitor_feature_missing_ratio",
            "Latest missing-value share per feature",
            ["model_id", "model_version", "feature"],
            registry=r,
        )
        self.drift_share = Gauge(
            "monitor_dataset_drift_share",
            "Latest share of drifted features",
            ["model_id", "model_version"],
            registry=r,
        )
        self.window_events = Gauge(
            "monitor_window_events",
            "Events in the latest closed window",
            ["model_id", "model_version"],
            registry=r,
        )
        self.window_end = Gauge(
            "monitor_window_end_timestamp_seconds",
            "End of the latest closed window",
            ["model_id", "model_version"],
            registry=r,
        )
        self.out_of_range = Gauge(
            "monitor_feature_out_of_range_ratio",
            "Latest share of a numeric feature's values outside the reference range",
            ["model_id", "model_version", "feature"],
            registry=r,
        )
        self.unseen = Gauge(
            "monitor_feature_unseen_ratio",
            "Latest share of a categorical feature's values not in the reference vocabulary",
            ["model_id", "model_version", "feature"],
            registry=r,
        )
        # Segments: at most keys x (top_k + 1) label values per model version (docs/segments.md).
        segment = ["model_id", "model_version", "segment"]
        self.segment_drift_share = Gauge(
            "monitor_segment_drift_share",
            "Latest share of drifted features per segment",
            segment,
            registry=r,
        )
        self.segment_events = Gauge(
            "monitor_segment_window_events",
            "Events of a segment in the latest closed window",
            segment,
            registry=r,
        )
        self.segment_severity = Gauge(
            "monitor_segment_drift_severity",
            "Latest severity per segment and feature (0 ok, 1 warning, 2 critical)",
            [*segment, "feature"],
            registry=r,
        )
        # Performance and labels (filled by the label join; defined here so dashboards and
        # alert rules can name them).
        perf = ["model_id", "model_version", "metric"]
        self.performance = Gauge(
            "monitor_model_performance",
            "Latest realized performance (labels joined) per metric",
            perf,
            registry=r,
        )
        self.performance_estimated = Gauge(
            "monitor_model_performance_estimated",
            "Latest estimated performance (before labels arrive) per metric",
            perf,
            registry=r,
        )
        counts = ["model_id", "model_version"]
        self.performance_predictions = Gauge(
            "monitor_performance_predictions",
            "Predictions in the latest performance window",
            counts,
            registry=r,
        )
        self.performance_labeled = Gauge(
            "monitor_performance_labeled_predictions",
            (
                "Predictions of the latest performance window with a label joined (the n of "
                "realized performance)"
            ),
            counts,
            registry=r,
        )
        self.performance_scored = Gauge(
            "monitor_performance_scored_predictions",
            (
                "Predictions of the latest performance window with a score (the n of estimated "
                "performance)"
            ),
            counts,
            registry=r,
        )
        self.performance_bound = Gauge(
            "monitor_model_performance_bound",
            (
                "Bounds of a realized metric the window's sketches leave open (metric +- its "
                "error bound)"
            ),
            [*perf, "bound"],
            registry=r,
        )
        self.label_coverage = Gauge(
            "monitor_label_coverage_ratio",
            "Share of the latest window's predictions that have a label",
            ["model_id", "model_version"],
            registry=r,
        )
        self.recent = Gauge(
            "monitor_model_performance_recent",
            (
                "Accuracy (classifiers) or mean absolute error (regression) of the last 1,000 "
                "labeled predictions"
            ),
            ["model_id", "model_version"],
            registry=r,
        )
        self.labels_after_horizon = Counter(
            "monitor_labels_after_horizon_total",
            "Labels that came after their prediction's time + the horizon: counted, not joined",
            ["model_id"],
            registry=r,
        )
        self.orphaned_labels = Counter(
            "monitor_labels_orphaned_total",
            "Labels whose prediction never came within the horizon",
            ["model_id"],
            registry=r,
        )
        self.pending_labels = Gauge(
            "monitor_pending_labels",
            "Predictions waiting for their label",
            ["model_id"],
            registry=r,
        )
        # Alerts (filled by the alert state machine and the outbox dispatcher).
        self.alerts_firing = Gauge(
            "monitor_alerts_firing",
            "1 while an alert rule fires for a model version",
            ["model_id", "model_version", "rule", "severity"],
            registry=r,
        )
        self.notifications = Counter(
            "monitor_notifications_total",
            "Notifications delivered or not, by sink and outcome (sent, retry, failed)",
            ["sink", "outcome"],
            registry=r,
        )

    def observe_windows(self, windows: list[ClosedWindow]) -> None:
        """Latest statistics of each closed window (call in window order)."""
        of = self._child
        for w in windows:
            self.windows_closed.labels(model_id=w.model_id).inc()
            self._seen(w.model_id, w.model_version)
            version = (w.model_id, w.model_version)
            of(self.drift_share, *version).set(w.dataset.drifted_share)
            of(self.window_events, *version).set(w.dataset.events)
            of(self.window_end, *version).set(w.end_ms / 1000)
            # The time the engine spent evaluating the window, once it records it (see
            # docs/operations.md: ClosedWindow.close_seconds).
            seconds = getattr(w, "close_seconds", None)
            if seconds is not None:
                self.window_close_seconds.observe(seconds)
            for c in w.columns:
                for stat, value in c.statistics.items():
                    if value is not None and stat != "ks_error_bound":
                        of(self.drift, *version, c.feature, stat).set(value)
                of(self.severity, *version, c.feature).set(SEVERITIES.index(c.severity))
                for gauge, name in (
                    (self.missing_rate, "missing_rate"),
                    (self.out_of_range, "out_of_range"),
                    (self.unseen, "unseen_share"),
                ):
                    if c.quality.get(name) is not None:
                        of(gauge, *version, c.feature).set(c.quality[name])
            for seg in w.segments:
                at = (*version, seg.segment)
                of(self.segment_drift_share, *at).set(seg.dataset.drifted_share)
                of(self.segment_events, *at).set(seg.dataset.events)
                for c in seg.columns:
                    of(self.segment_severity, *at, c.feature).set(SEVERITIES.index(c.severity))

    def _child(self, gauge: Gauge, *values: str) -> Any:
        """``gauge.labels(*values)`` (label values in the gauge's order, the model id and
        version first), kept: prometheus_client builds and checks a series' key under its lock
        on every call, ~5 us, two hundred calls a window of 20 features. Dropped with the
        version's series (:meth:`_seen`)."""
        key = (gauge, *values)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = gauge.labels(*values)
        return child

    def _seen(self, model_id: str, version: str) -> None:
        """Keep the series of a model's ``max_versions`` most recent versions: a producer that
        sends thousands of versions cannot grow ``/metrics`` without bound."""
        versions = self._versions.setdefault(model_id, {})
        versions.pop(version, None)
        versions[version] = None
        while len(versions) > self.max_versions.get(model_id, _MAX_VERSIONS):
            old = next(iter(versions))
            del versions[old]
            for metric in self._per_version:
                metric.remove_by_labels({"model_id": model_id, "model_version": old})
            self._children = {k: c for k, c in self._children.items() if k[1:3] != (model_id, old)}

    @property
    def _per_version(self) -> list[Gauge]:
        return [
            self.drift,
            self.severity,
            self.missing_rate,
            self.drift_share,
            self.window_events,
            self.window_end,
            self.out_of_range,
            self.unseen,
            self.segment_drift_share,
            self.segment_events,
            self.segment_severity,
            self.performance,
            self.performance_estimated,
            self.performance_predictions,
            self.performance_labeled,
            self.performance_scored,
            self.performance_bound,
            self.label_coverage,
            self.recent,
            self.alerts_firing,
        ]

    def observe_performance(self, rows: list[dict[str, Any]], join: Any) -> None:
        """Latest realized and estimated performance, their counts and bounds, and label coverage
        per model version (the performance windows a checkpoint refreshed, latest window last),
        and pending labels.

        >>> from prometheus_client import CollectorRegistry, generate_latest
        >>> from types import SimpleNamespace
        >>> m = Metrics(CollectorRegistry())
        >>> row = {"model_id": "m", "model_version": "v1", "window_end": 1, "predictions": 435,
        ...        "labeled": 194, "metrics": {"n": 194, "accuracy": 0.9, "roc_auc": 0.8,
        ...        "roc_auc_error_bound": 0.01}, "estimated": {"n": 435, "accuracy": 0.85}}
        >>> m.observe_performance([row], SimpleNamespace(recent={}, models={}))
        >>> text = generate_latest(m.registry).decode()
        >>> for line in text.splitlines():
        ...     if line.startswith("monitor_model_performance"):
        ...         print(line.replace(',model_id="m",model_version="v1"', ""))
        monitor_model_performance{metric="accuracy"} 0.9
        monitor_model_performance{metric="roc_auc"} 0.8
        monitor_model_performance_estimated{metric="accuracy"} 0.85
        monitor_model_performance_bound{bound="lower",metric="roc_auc"} 0.79
        monitor_model_performance_bound{bound="upper",metric="roc_auc"} 0.81
        >>> 'monitor_performance_labeled_predictions{model_id="m",model_version="v1"} 194.0' in text
        True
        """
        for row in sorted(rows, key=lambda r: r["window_end"]):
            labels = {"model_id": row["model_id"], "model_version": row["model_version"]}
            metrics, estimated = row["metrics"] or {}, row["estimated"] or {}
            self.performance_predictions.labels(**labels).set(row["predictions"])
            self.performance_labeled.labels(**labels).set(row["labeled"])
            if estimated.get("n") is not None:
                self.performance_scored.labels(**labels).set(estimated["n"])
            for gauge, figures in (
                (self.performance, metrics),
                (self.performance_estimated, estimated),
            ):
                for metric, value in _metrics(figures).items():
                    gauge.labels(metric=metric, **labels).set(value)
            for metric, value in _metrics(metrics).items():
                bound = metrics.get(f"{metric}_error_bound")
                if isinstance(bound, int | float):
                    self.performance_bound.labels(metric=metric, bound="lower", **labels).set(
                        value - bound
                    )
                    self.performance_bound.labels(metric=metric, bound="upper", **labels).set(
                        value + bound
                    )
            if metrics.get("coverage") is not None:
                self.label_coverage.labels(**labels).set(metrics["coverage"])
        for (model_id, version), outcomes in join.recent.items():
            if outcomes:  # accuracy (classification) or mean absolute error of the last labeled
                self.recent.labels(model_id=model_id, model_version=version).set(
                    sum(outcomes[-1000:]) / len(outcomes[-1000:])
                )
        for model_id in join.models:
            self.pending_labels.labels(model_id=model_id).set(join.pending[model_id])

    def register_state(self, read: Callable[[], Iterable[Metric]]) -> None:
        """Add gauges computed at scrape time (lag, readiness) from ``read``."""
        self.registry.register(_StateCollector(read))


def _metrics(figures: dict[str, Any]) -> dict[str, float]:
    """The performance metrics among a window's figures (no counts, bounds or tables).

    >>> _metrics({"n": 194, "accuracy": 0.9, "roc_auc_error_bound": 0.01, "f1": None})
    {'accuracy': 0.9}
    """
    return {
        k: v
        for k, v in figures.items()
        if k in PERFORMANCE_METRICS and isinstance(v, int | float) and not isinstance(v, bool)
    }
