"""Metrics conventions, readiness (with the lag threshold) and structured logs."""

from __future__ import annotations

import dataclasses
import io
import json
import logging

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from monitor.config import parse_config
from monitor.logs import JsonFormatter, configure
from monitor.metrics import Metrics
from monitor.pipeline.kafka import KafkaService
from monitor.store import Store
from monitor.synth import DriftSpec
from tests.helpers import config_for, engine_for, feed, jsonl, small_spec

#: Metrics dashboards and alert rules rely on, with their labels (docs/operations.md lists them).
EXPECTED = {
    "monitor_events_consumed": ("counter", {"topic"}),
    "monitor_events_invalid": ("counter", {"topic", "reason"}),
    "monitor_dead_letters": ("counter", {"reason"}),
    "monitor_checkpoint_duration_seconds": ("histogram", set()),
    "monitor_checkpoint_failures": ("counter", set()),
    "monitor_window_close_duration_seconds": ("histogram", set()),
    "monitor_windows_closed": ("counter", {"model_id"}),
    "monitor_drift_statistic": ("gauge", {"model_id", "model_version", "feature", "statistic"}),
    "monitor_drift_severity": ("gauge", {"model_id", "model_version", "feature"}),
    "monitor_feature_missing_ratio": ("gauge", {"model_id", "model_version", "feature"}),
    "monitor_feature_out_of_range_ratio": ("gauge", {"model_id", "model_version", "feature"}),
    "monitor_feature_unseen_ratio": ("gauge", {"model_id", "model_version", "feature"}),
    "monitor_dataset_drift_share": ("gauge", {"model_id", "model_version"}),
    "monitor_window_events": ("gauge", {"model_id", "model_version"}),
    "monitor_window_end_timestamp_seconds": ("gauge", {"model_id", "model_version"}),
    "monitor_segment_drift_share": ("gauge", {"model_id", "model_version", "segment"}),
    "monitor_segment_window_events": ("gauge", {"model_id", "model_version", "segment"}),
    "monitor_segment_drift_severity": (
        "gauge",
        {"model_id", "model_version", "segment", "feature"},
    ),
    "monitor_model_performance": ("gauge", {"model_id", "model_version", "metric"}),
    "monitor_model_performance_estimated": ("gauge", {"model_id", "model_version", "metric"}),
    "monitor_label_coverage_ratio": ("gauge", {"model_id", "model_version"}),
    "monitor_pending_labels": ("gauge", {"model_id"}),
    "monitor_alerts_firing": ("gauge", {"model_id", "model_version", "rule", "severity"}),
    "monitor_notifications": ("counter", {"sink", "outcome"}),
}


@pytest.fixture
def closed_windows():
    spec = small_spec(drift=(DriftSpec("num_01", 1.0, 3000),), interval_ms=10)
    cfg = config_for(spec, window="10s")
    return feed(engine_for(spec, cfg, 5000, 200), cfg, jsonl(spec, 6000), 1000)


def test_metrics_follow_the_conventions(closed_windows):
    metrics = Metrics(CollectorRegistry())
    metrics.observe_windows(closed_windows)
    families = {m.name: m for m in metrics.registry.collect()}
    for name, (kind, labels) in EXPECTED.items():
        assert name in families, f"{name} is not defined"
        assert families[name].type == kind, name
        declared = set(
            metrics.registry._names_to_collectors[
                name if kind != "counter" else name + "_total"
            ]._labelnames
        )
        assert declared == labels, name
    for family in families.values():
        assert family.name.startswith("monitor_")
        assert not family.name.endswith("_total")  # the client appends it to counters
        if family.type == "histogram":
            assert family.name.endswith("_seconds")
    exposed = {
        f.name: f
        for f in text_string_to_metric_families(generate_latest(metrics.registry).decode())
    }
    drift = {s.labels["feature"]: s.value for s in exposed["monitor_drift_severity"].samples}
    assert drift["num_01"] == 2 and drift["num_00"] == 0
    assert {s.labels["feature"] for s in exposed["monitor_feature_unseen_ratio"].samples} == {
        "cat10",
        "prediction",
    }
    assert "num_00" in {
        s.labels["feature"] for s in exposed["monitor_feature_out_of_range_ratio"].samples
    }


def test_window_close_duration_is_observed_once_windows_carry_it(closed_windows):
    """The hook the engine is to fill (docs/operations.md): ``ClosedWindow.close_seconds``."""
    metrics = Metrics(CollectorRegistry())
    metrics.observe_windows(closed_windows)
    count = metrics.registry.get_sample_value("monitor_window_close_duration_seconds_count")
    timed = [_with_close_seconds(w, 0.02) for w in closed_windows]
    metrics.observe_windows(timed)
    assert metrics.registry.get_sample_value(
        "monitor_window_close_duration_seconds_count"
    ) == count + len(timed)


def _with_close_seconds(window, seconds):
    return dataclasses.replace(window, close_seconds=seconds)


# -- readiness ------------------------------------------------------------------------------------
def _service(tmp_path, max_lag=None) -> KafkaService:
    cfg = parse_config(
        {
            "database_url": f"sqlite:///{tmp_path / 'm.db'}",
            "models": {"m": {"features": {"x": {"kind": "numeric"}}}},
        }
    )
    if max_lag is not None:  # metrics.max_lag_events (the config key the lead adds)
        cfg = cfg.model_copy(
            update={"metrics": cfg.metrics.model_copy(update={"max_lag_events": max_lag})}
        )
    store = Store(cfg.database_url)
    store.upgrade()
    return KafkaService(
        cfg, store, bootstrap_servers="127.0.0.1:9", metrics=Metrics(CollectorRegistry())
    )  # never connects


def test_readiness_reports_each_reason(tmp_path):
    service = _service(tmp_path)
    assert service.readiness() == (False, {"partitions": "none assigned yet"})
    service.assigned = {("predictions", 0)}
    assert service.readiness() == (True, {})
    service.checkpointer.healthy = False
    ready, reasons = service.readiness()
    assert not ready and reasons["database"].startswith("unreachable")


def test_readiness_fails_when_a_partition_lags_past_the_threshold(tmp_path):
    service = _service(tmp_path, max_lag=1000)
    service.assigned = {("predictions", 0), ("predictions", 1)}
    service._lag = {"predictions:0": 10, "predictions:1": 999}
    assert service.readiness() == (True, {})
    service._lag = {"predictions:0": 10, "predictions:1": 5000}
    ready, reasons = service.readiness()
    assert not ready
    assert reasons == {
        "lag": "1 partition(s) more than 1000 events behind (worst predictions:1: 5000)"
    }


def test_without_a_threshold_lag_never_makes_unready(tmp_path):
    service = _service(tmp_path)
    service.assigned = {("predictions", 0)}
    service._lag = {"predictions:0": 10**9}
    assert service.ready


def test_scrape_exposes_readiness_assignment_and_lag(tmp_path):
    service = _service(tmp_path)
    service.assigned = {("predictions", 0), ("predictions", 1)}
    service._lag = {"predictions:0": 7, "predictions:1": 0}
    body = generate_latest(service.metrics.registry).decode()
    assert "monitor_ready 1.0" in body and "monitor_assigned_partitions 2.0" in body
    assert 'monitor_consumer_lag_events{partition="0",topic="predictions"} 7.0' in body
    assert 'monitor_consumer_lag_events{partition="1",topic="predictions"} 0.0' in body


# -- logs -----------------------------------------------------------------------------------------
def test_json_logs_carry_model_window_and_partition_context():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    log = logging.getLogger("monitor.test.ops")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning(
            "window closed",
            extra={
                "model_id": "fraud",
                "model_version": "v2",
                "window_start": "2026-01-01T00:00:00Z",
                "partition": "predictions:3",
            },
        )
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("failed", extra={"source": "predictions:1"})
    finally:
        log.removeHandler(handler)
    first, second = (
        json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")
    )
    assert first == {
        "time": first["time"],
        "level": "WARNING",
        "logger": "monitor.test.ops",
        "message": "window closed",
        "model_id": "fraud",
        "model_version": "v2",
        "window_start": "2026-01-01T00:00:00Z",
        "partition": "predictions:3",
    }
    assert second["source"] == "predictions:1" and "ValueError: boom" in second["exception"]


def test_configure_json_replaces_the_handlers(capsys):
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        configure("INFO", as_json=True)
        logging.getLogger("monitor.x").info("hello %s", "world", extra={"model_id": "m"})
        line = capsys.readouterr().err.strip().splitlines()[-1]
        assert json.loads(line)["message"] == "hello world" and json.loads(line)["model_id"] == "m"
    finally:
        root.handlers[:], _ = saved[0], root.setLevel(saved[1])
