"""Prometheus metrics: names, labels and the collectors that read state at scrape time.

Conventions: the ``monitor_`` prefix, base units (seconds), ``_total`` counters. Label
cardinality is bounded by the config: model, version (those seen), feature (configured) and
statistic (configured); partitions by the topics' partition counts; reasons by a fixed list.

>>> from prometheus_client import CollectorRegistry, generate_latest
>>> m = Metrics(CollectorRegistry())
>>> m.invalid.labels(topic="predictions", reason="invalid_json").inc()
>>> b'monitor_events_invalid_total{reason="invalid_json",topic="predictions"} 1.0' in generate_latest(m.registry)
True
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from monitor.drift import SEVERITIES
from monitor.engine import ClosedWindow

__all__ = ["Metrics"]

_LATENCY = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class _StateCollector(Collector):
    """Gauges whose values live elsewhere (consumer lag, readiness): read at scrape time."""

    def __init__(self, read: Callable[[], Iterable[GaugeMetricFamily]]) -> None:
        self.read = read

    def collect(self) -> Iterable[GaugeMetricFamily]:
        return self.read()


class Metrics:
    """Every metric of the service, registered in ``registry`` (a fresh one in tests)."""

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self.registry = registry
        r = registry
        self.consumed = Counter("monitor_events_consumed_total", "Messages consumed, good and bad", ["topic"], registry=r)
        self.invalid = Counter("monitor_events_invalid_total", "Events rejected, by reason", ["topic", "reason"], registry=r)
        self.dead_lettered = Counter("monitor_dead_letters_total", "Messages written to the dead-letter topic", ["reason"], registry=r)
        self.checkpoint_seconds = Histogram("monitor_checkpoint_duration_seconds", "Checkpoint transaction time", buckets=_LATENCY, registry=r)
        self.checkpoint_failures = Counter("monitor_checkpoint_failures_total", "Checkpoints that failed (database away)", registry=r)
        self.window_close_seconds = Histogram("monitor_window_close_duration_seconds", "Time to evaluate one closed window", buckets=_LATENCY, registry=r)
        self.windows_closed = Counter("monitor_windows_closed_total", "Windows closed and persisted", ["model_id"], registry=r)
        self.drift = Gauge("monitor_drift_statistic", "Latest drift statistic per feature", ["model_id", "model_version", "feature", "statistic"], registry=r)
        self.severity = Gauge("monitor_drift_severity", "Latest severity per feature (0 ok, 1 warning, 2 critical)", ["model_id", "model_version", "feature"], registry=r)
        self.missing_rate = Gauge("monitor_feature_missing_ratio", "Latest missing-value share per feature", ["model_id", "model_version", "feature"], registry=r)
        self.drift_share = Gauge("monitor_dataset_drift_share", "Latest share of drifted features", ["model_id", "model_version"], registry=r)
        self.window_events = Gauge("monitor_window_events", "Events in the latest closed window", ["model_id", "model_version"], registry=r)
        self.window_end = Gauge("monitor_window_end_timestamp_seconds", "End of the latest closed window", ["model_id", "model_version"], registry=r)

    def observe_windows(self, windows: list[ClosedWindow]) -> None:
        """Latest statistics of each closed window (call in window order)."""
        for w in windows:
            self.windows_closed.labels(model_id=w.model_id).inc()
            labels = {"model_id": w.model_id, "model_version": w.model_version}
            self.drift_share.labels(**labels).set(w.dataset.drifted_share)
            self.window_events.labels(**labels).set(w.dataset.events)
            self.window_end.labels(**labels).set(w.end_ms / 1000)
            for c in w.columns:
                for stat, value in c.statistics.items():
                    if value is not None and stat != "ks_error_bound":
                        self.drift.labels(feature=c.feature, statistic=stat, **labels).set(value)
                self.severity.labels(feature=c.feature, **labels).set(SEVERITIES.index(c.severity))
                if c.quality.get("missing_rate") is not None:
                    self.missing_rate.labels(feature=c.feature, **labels).set(c.quality["missing_rate"])

    def register_state(self, read: Callable[[], Iterable[GaugeMetricFamily]]) -> None:
        """Add gauges computed at scrape time (lag, readiness) from ``read``."""
        self.registry.register(_StateCollector(read))
