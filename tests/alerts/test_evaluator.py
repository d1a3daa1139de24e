"""The evaluator against real databases (SQLite and PostgreSQL): exact transition sequences,
grouping, inhibition, silences, idempotence under replays, fed values, retrain rate limits."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import insert

from monitor.alerts import AlertEvaluator
from monitor.alerts.silences import add_silence
from monitor.engine import EngineState
from monitor.metrics import Metrics
from monitor.store import Store, schema
from tests.helpers import checkpoint

from .conftest import HOUR, NOW, T0, evaluate, make_config, table, window

HOOK = {"hook": {"type": "webhook", "url": "http://127.0.0.1:9/hook"}}
DRIFT = {
    "name": "drift",
    "kind": "feature_drift",
    "statistic": "psi",
    "warning": 0.1,
    "critical": 0.25,
}


def outbox(store: Store) -> list[dict]:
    return sorted(
        table(store, schema.outbox), key=lambda r: (r["window_end"], r["sink"], r["status"])
    )


def history(store: Store) -> list[tuple]:
    rows = sorted(
        table(store, schema.alert_history), key=lambda r: (r["window_end"], r["rule"], r["subject"])
    )
    return [
        (
            r["rule"],
            r["subject"],
            (r["window_end"] - T0) // HOUR - 1,
            r["from_state"],
            r["to_state"],
            r["severity"],
        )
        for r in rows
    ]


def test_for_resolve_after_and_repeat_give_exactly_these_transitions_and_messages(store: Store):
    config = make_config(
        [{**DRIFT, "features": ["amount"], "for": 2, "resolve_after": 2, "repeat": "3h"}],
        sinks=HOOK,
        routes={"warning": ["hook"], "critical": ["hook"]},
    )
    ev = AlertEvaluator(config, store)
    psi = [0.0, 0.3, 0.3, 0.3, 0.3, 0.3, 0.0, 0.3, 0.0, 0.0]
    for i, p in enumerate(psi):
        evaluate(store, ev, [window(i, {"amount": p})])
    assert history(store) == [
        ("drift", "amount", 1, "inactive", "pending", "critical"),
        ("drift", "amount", 2, "pending", "firing", "critical"),
        ("drift", "amount", 9, "firing", "resolved", "critical"),
    ]
    sent = [
        (
            (r["window_end"] - T0) // HOUR - 1,
            r["payload"]["status"],
            r["payload"]["alerts"][0]["reminder"],
        )
        for r in outbox(store)
    ]
    assert sent == [(2, "firing", False), (5, "firing", True), (9, "resolved", False)]
    [alert] = table(store, schema.alerts)
    assert (alert["state"], alert["last_window_end"], alert["notified_state"]) == (
        "resolved",
        T0 + 10 * HOUR,
        "resolved",
    )


def test_a_dataset_wide_shift_is_one_message_per_sink_listing_every_feature(store: Store):
    features = tuple(f"f{i:02d}" for i in range(20))
    config = make_config(
        [DRIFT, {"name": "retrain", "kind": "dataset_drift", "critical": 0.1}],
        sinks={**HOOK, "slack": {"type": "slack", "url": "http://127.0.0.1:9/slack"}},
        routes={"warning": ["slack"], "critical": ["slack", "hook"]},
        features=features,
    )
    notifications = evaluate(
        store, AlertEvaluator(config, store), [window(0, {f: 0.4 for f in features})]
    )
    assert sorted(n.sink for n in notifications) == ["hook", "slack"]
    for row in outbox(store):
        payload = row["payload"]
        assert payload["features"] == list(features)
        assert [(a["rule"], a["feature"]) for a in payload["alerts"]] == [
            ("drift", f) for f in features
        ] + [("retrain", None)]
        assert payload["status"] == "firing" and payload["severity"] == "critical"


def test_a_quality_alert_on_a_feature_mutes_drift_alerts_on_that_feature(store: Store):
    quality = {
        "name": "missing",
        "kind": "data_quality",
        "statistic": "missing_rate",
        "critical": 0.5,
    }
    config = make_config(
        [quality, DRIFT], sinks=HOOK, routes={"warning": ["hook"], "critical": ["hook"]}
    )
    ev = AlertEvaluator(config, store)
    evaluate(store, ev, [window(0, {"amount": 0.9, "country": 0.4}, missing={"amount": 1.0})])
    [row] = outbox(store)
    assert [(a["rule"], a["feature"]) for a in row["payload"]["alerts"]] == [
        ("drift", "country"),
        ("missing", "amount"),
    ]
    inhibited = {
        (r["rule"], r["subject"]): r["inhibited"] for r in table(store, schema.alert_history)
    }
    assert inhibited == {
        ("drift", "amount"): True,
        ("drift", "country"): False,
        ("missing", "amount"): False,
    }
    # The feature is back, still drifted: the drift alert (firing all along) is notified now.
    evaluate(store, ev, [window(1, {"amount": 0.9, "country": 0.4})])
    last = outbox(store)[-1]["payload"]
    assert [(a["rule"], a["feature"], a["state"]) for a in last["alerts"]] == [
        ("drift", "amount", "firing"),
        ("missing", "amount", "resolved"),
    ]


def test_inhibition_can_be_turned_off(store: Store):
    quality = {"name": "missing", "kind": "data_quality", "critical": 0.5}
    config = make_config(
        [quality, DRIFT], sinks=HOOK, routes={"critical": ["hook"]}, inhibit_drift_on_quality=False
    )
    evaluate(
        store, AlertEvaluator(config, store), [window(0, {"amount": 0.9}, missing={"amount": 1.0})]
    )
    assert len(outbox(store)[0]["payload"]["alerts"]) == 2


def test_evaluating_the_same_windows_again_changes_nothing(store: Store):
    config = make_config(
        [{**DRIFT, "for": 2}], sinks=HOOK, routes={"warning": ["hook"], "critical": ["hook"]}
    )
    ev = AlertEvaluator(config, store)
    windows = [
        window(i, {"amount": p, "country": 0.0})
        for i, p in enumerate([0.0, 0.3, 0.3, 0.0, 0.2, 0.2])
    ]
    evaluate(store, ev, windows[:4])
    evaluate(store, ev, windows[2:])  # an overlapping checkpoint (a retried delta)
    before = [table(store, t) for t in (schema.alerts, schema.alert_history, schema.outbox)]
    assert evaluate(store, ev, windows, now_ms=NOW + HOUR) == []
    assert (
        evaluate(store, AlertEvaluator(config, store), windows[::-1], now_ms=NOW + 2 * HOUR) == []
    )  # a restart
    assert [table(store, t) for t in (schema.alerts, schema.alert_history, schema.outbox)] == before
    assert len(before[2]) == 3  # warning firing, resolved, warning firing again


def test_a_replay_of_a_whole_stream_twice_gives_the_same_history_and_outbox(store: Store):
    from monitor.synth import DriftSpec
    from tests.helpers import engine_for, feed, jsonl, small_spec

    spec = small_spec(drift=(DriftSpec("num_01", 1.5, 4_000), DriftSpec("num_02", 1.5, 4_000)))
    features = {f.name: {"kind": f.kind} for f in spec.features}
    from monitor.config import parse_config

    config = parse_config(
        {
            "models": {
                spec.model_id: {
                    "features": features,
                    "window": "1m",
                    "min_events": 100,
                    "rules": [
                        {
                            "name": "drift",
                            "kind": "feature_drift",
                            "warning": 0.1,
                            "critical": 0.25,
                            "for": 2,
                        },
                        {
                            "name": "retrain",
                            "kind": "dataset_drift",
                            "critical": 0.3,
                            "sinks": {"critical": ["gh"]},
                        },
                    ],
                }
            },
            "alerts": {
                "sinks": {
                    "hook": {"type": "webhook", "url": "http://127.0.0.1:9/"},
                    "gh": {"type": "github", "repository": "o/r", "token": "t"},
                },
                "routes": {"warning": ["hook"], "critical": ["hook"]},
            },
        }
    )
    data = jsonl(spec, 9_000)
    ev = AlertEvaluator(config, store)

    def replay(chunk_lines: int) -> None:
        engine = engine_for(spec, config)
        closed = feed(engine, config, data, chunk_lines)
        for i in range(0, len(closed), 3):  # one checkpoint per three windows
            evaluate(store, ev, closed[i : i + 3])

    replay(700)
    first = [table(store, t) for t in (schema.alerts, schema.alert_history, schema.outbox)]
    assert any(r["to_state"] == "firing" for r in first[1]) and first[2], (
        "the drift fires and notifies"
    )
    assert {r["sink"] for r in first[2]} == {"hook", "gh"}
    replay(1_300)
    assert [table(store, t) for t in (schema.alerts, schema.alert_history, schema.outbox)] == first


def test_a_silenced_alert_changes_state_and_its_notifications_are_recorded_as_silenced(
    store: Store,
):
    config = make_config(
        [DRIFT, {"name": "missing", "kind": "data_quality", "critical": 0.5}],
        sinks=HOOK,
        routes={"critical": ["hook"]},
    )
    with store.engine.begin() as conn:
        add_silence(conn, "fraud", "drift", NOW - 1000, 2 * HOUR)
    ev = AlertEvaluator(config, store)
    evaluate(store, ev, [window(0, {"amount": 0.9, "country": 0.0}, missing={"country": 0.9})])
    rows = outbox(store)
    assert sorted((r["status"], r["payload"]["alerts"][0]["rule"]) for r in rows) == [
        ("pending", "missing"),
        ("silenced", "drift"),
    ]
    assert [(r[0], r[4]) for r in history(store)] == [("drift", "firing"), ("missing", "firing")]
    # After the silence expires, the alert still firing is not re-sent (its notice was recorded)
    evaluate(
        store,
        ev,
        [window(1, {"amount": 0.9, "country": 0.0}, missing={"country": 0.9})],
        now_ms=NOW + 3 * HOUR,
    )
    assert len(outbox(store)) == 2


def test_performance_values_go_through_the_same_evaluator(store: Store):
    config = make_config(
        [
            {
                "name": "accuracy",
                "kind": "performance",
                "metric": "accuracy",
                "warning": 0.9,
                "critical": 0.8,
            },
            {
                "name": "accuracy-drop",
                "kind": "performance",
                "metric": "accuracy",
                "compare": "relative_drop",
                "baseline": "reference.accuracy",
                "critical": 0.1,
            },
            {"name": "coverage", "kind": "label_coverage", "warning": 0.5},
            {
                "name": "concept",
                "kind": "concept_drift",
                "statistic": "adwin.detected",
                "critical": 1,
            },
            {
                "name": "estimated",
                "kind": "estimated_performance",
                "metric": "roc_auc",
                "critical": 0.7,
                "for": 2,
            },
        ],
        sinks=HOOK,
        routes={"warning": ["hook"], "critical": ["hook"]},
    )
    ev = AlertEvaluator(config, store)
    values = {
        "accuracy": 0.85,
        "reference": {"accuracy": 0.97},
        "label_coverage": 0.3,
        "adwin": {"detected": 1},
        "roc_auc": 0.6,
    }
    with store.engine.begin() as conn:
        kinds = ("performance", "label_coverage", "concept_drift", "estimated_performance")
        ev.evaluate_values(conn, "fraud", "v1", T0, T0 + HOUR, values, kinds, now_ms=NOW)
        again = ev.evaluate_values(conn, "fraud", "v1", T0, T0 + HOUR, values, kinds, now_ms=NOW)
    assert again == []
    states = {r["rule"]: (r["state"], r["severity"]) for r in table(store, schema.alerts)}
    assert states == {
        "accuracy": ("firing", "warning"),
        "accuracy-drop": ("firing", "critical"),
        "coverage": ("firing", "warning"),
        "concept": ("firing", "critical"),
        "estimated": ("pending", "critical"),
    }
    [row] = outbox(store)
    assert [a["rule"] for a in row["payload"]["alerts"]] == [
        "accuracy-drop",
        "concept",
        "accuracy",
        "coverage",
    ]
    assert row["payload"]["alerts"][0]["value"] == pytest.approx((0.97 - 0.85) / 0.97)


def test_late_events_are_a_dataset_quality_statistic(store: Store):
    config = make_config(
        [{"name": "late", "kind": "data_quality", "statistic": "late_share", "warning": 0.1}],
        sinks=HOOK,
        routes={"warning": ["hook"]},
    )
    with store.engine.begin() as conn:
        conn.execute(
            insert(schema.late_events),
            [
                {
                    "job": "j",
                    "model_id": "fraud",
                    "model_version": "v1",
                    "pane_start": T0,
                    "count": 25,
                }
            ],
        )
    evaluate(store, AlertEvaluator(config, store), [window(0, {"amount": 0.0})])
    [alert] = table(store, schema.alerts)
    assert (alert["subject"], alert["state"], alert["value"]) == ("", "firing", 0.2)  # 25 of 125


def test_retrain_triggers_are_rate_limited_per_model(store: Store):
    config = make_config(
        [
            {
                "name": "retrain",
                "kind": "dataset_drift",
                "critical": 0.3,
                "sinks": {"critical": ["gh", "hook"]},
            }
        ],
        sinks={
            **HOOK,
            "gh": {"type": "github", "repository": "o/r", "token": "t", "rate_limit": "6h"},
        },
    )
    ev = AlertEvaluator(config, store)
    drifted, calm = {"amount": 0.9, "country": 0.0}, {"amount": 0.0, "country": 0.0}
    for i, (psi, hours) in enumerate(
        [(drifted, 0), (calm, 1), (drifted, 2), (calm, 3), (drifted, 7)]
    ):
        evaluate(store, ev, [window(i, psi)], now_ms=NOW + hours * HOUR)
    gh = [
        (r["status"], (r["window_end"] - T0) // HOUR - 1)
        for r in outbox(store)
        if r["sink"] == "gh"
    ]
    assert gh == [("pending", 0), ("rate_limited", 2), ("pending", 4)]
    hook = [r["payload"]["status"] for r in outbox(store) if r["sink"] == "hook"]
    assert hook == ["firing", "resolved", "firing", "resolved", "firing"]


def test_the_firing_gauge_follows_the_alerts(store: Store):
    metrics = Metrics(CollectorRegistry())
    config = make_config([DRIFT], sinks=HOOK)
    ev = AlertEvaluator(config, store, metrics)
    evaluate(store, ev, [window(0, {"amount": 0.3, "country": 0.3})])
    value = lambda sev: metrics.registry.get_sample_value(
        "monitor_alerts_firing",
        {"model_id": "fraud", "model_version": "v1", "rule": "drift", "severity": sev},
    )
    assert value("critical") == 1
    evaluate(store, ev, [window(1, {"amount": 0.0, "country": 0.0})])
    assert value("critical") == 0


def test_models_without_rules_and_unknown_models_are_ignored(store: Store):
    config = make_config([], sinks=HOOK)
    assert (
        evaluate(
            store,
            AlertEvaluator(config, store),
            [window(0, {"amount": 0.9}), window(0, {"a": 1.0}, model="other")],
        )
        == []
    )
    assert table(store, schema.alerts) == []


def test_the_checkpoint_evaluates_in_the_checkpoint_transaction(store: Store):
    config = make_config([DRIFT], sinks=HOOK, routes={"critical": ["hook"]})
    alerts = AlertEvaluator(config, store)
    w = window(0, {"amount": 0.9})
    checkpoint(store, "job", EngineState(windows=[w]), config, alerts, NOW)
    checkpoint(store, "job", EngineState(windows=[w]), config, alerts, NOW)
    assert len(table(store, schema.outbox)) == 1 and len(store.windows("fraud")) == 1
