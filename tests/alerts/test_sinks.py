"""Each sink against a real HTTP receiver on 127.0.0.1: payload format, signature, headers."""

from __future__ import annotations

import json
import time
from urllib.parse import parse_qs

import pytest

from monitor.alerts import AlertEvaluator, Dispatcher
from monitor.alerts.exceptions import DeliveryError
from monitor.alerts.notify import probe_payload
from monitor.alerts.sinks import build_sinks, verify
from monitor.alerts.sinks.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER
from monitor.store import Store

from .conftest import NOW, Receiver, evaluate, make_config, window

RETRAIN = {"name": "retrain", "kind": "dataset_drift", "critical": 0.3}
DRIFT = {"name": "drift", "kind": "feature_drift", "warning": 0.1, "critical": 0.25}


def deliver(store: Store, config, windows) -> Dispatcher:
    ev = AlertEvaluator(config, store)
    for w in windows:
        evaluate(store, ev, [w])
    d = Dispatcher.from_config(config, store, evaluator=None)
    d.drain()
    d.close()
    return d


@pytest.fixture
def sqlite_store(sqlite_url: str):
    s = Store(sqlite_url)
    s.upgrade()
    yield s
    s.engine.dispose()


def test_slack_gets_a_readable_block_kit_message_and_a_resolved_one(
    sqlite_store, receiver: Receiver, monkeypatch
):
    monkeypatch.setenv("SLACK_URL", receiver.url("/services/T000/B000/XXXX"))
    config = make_config(
        [DRIFT],
        sinks={"slack": {"type": "slack", "url": "${SLACK_URL}"}},
        routes={"warning": ["slack"], "critical": ["slack"]},
        grafana_url="https://grafana.example.com/d/monitor",
    )
    deliver(
        sqlite_store,
        config,
        [window(0, {"amount": 0.41, "country": 0.12}), window(1, {"amount": 0.0, "country": 0.0})],
    )
    firing, resolved = receiver.requests
    assert (
        firing.path == "/services/T000/B000/XXXX"
        and firing.header("Content-Type") == "application/json"
    )
    msg = firing.json()
    assert msg["text"].startswith(
        ":red_circle: [CRITICAL] fraud v1: 2 alerts firing (amount, country)"
    )
    header, fields, lines, actions, context = msg["blocks"]
    assert header == {
        "type": "header",
        "text": {"type": "plain_text", "text": "CRITICAL: fraud v1", "emoji": True},
    }
    assert [f["text"].split("\n")[0] for f in fields["fields"]] == [
        "*Model*",
        "*Version*",
        "*Window*",
        "*Status*",
    ]
    assert "2026-01-01T00:00:00Z → 2026-01-01T01:00:00Z" in fields["fields"][2]["text"]
    assert lines["text"]["text"].splitlines() == [
        "• *drift* · `amount`: psi = 0.41 (≥ 0.25, critical)",
        "• *drift* · `country`: psi = 0.12 (≥ 0.1, warning)",
    ]
    button = actions["elements"][0]
    assert button["type"] == "button" and button["url"].startswith(
        "https://grafana.example.com/d/monitor?var-model=fraud&var-version=v1&from="
    )
    assert (
        context["type"] == "context"
        and firing.header("Idempotency-Key")[:16] in context["elements"][0]["text"]
    )
    done = resolved.json()
    assert done["text"].startswith(":white_check_mark: [RESOLVED] fraud v1: 2 alerts resolved")
    assert "back to 0" in done["blocks"][2]["text"]["text"]


def test_webhook_json_is_signed_over_timestamp_and_body(
    sqlite_store, receiver: Receiver, monkeypatch
):
    monkeypatch.setenv("HOOK_SECRET", "whsec-test-123")
    config = make_config(
        [DRIFT],
        sinks={
            "hook": {
                "type": "webhook",
                "url": receiver.url("/alerts"),
                "secret": "${HOOK_SECRET}",
                "headers": {"X-Team": "ml"},
            }
        },
        routes={"critical": ["hook"]},
    )
    deliver(sqlite_store, config, [window(0, {"amount": 0.5})])
    [req] = receiver.requests
    assert req.header("Content-Type") == "application/json" and req.header("X-Team") == "ml"
    ts, sig = req.header(TIMESTAMP_HEADER), req.header(SIGNATURE_HEADER)
    assert abs(int(ts) - time.time()) < 60 and sig.startswith("sha256=")
    assert verify("whsec-test-123", ts, req.body, sig, now=time.time())
    assert not verify("whsec-test-123", ts, req.body + b" ", sig, now=time.time())  # tampered
    assert not verify(
        "whsec-test-123", str(int(ts) - 3600), req.body, sig, now=time.time()
    )  # replayed later
    body = req.json()
    assert body["idempotency_key"] == req.header("Idempotency-Key")
    assert (body["type"], body["status"], body["model_id"], body["model_version"]) == (
        "monitor.alert",
        "firing",
        "fraud",
        "v1",
    )
    [alert] = body["alerts"]
    assert {
        k: alert[k] for k in ("rule", "feature", "statistic", "value", "threshold", "severity")
    } == {
        "rule": "drift",
        "feature": "amount",
        "statistic": "psi",
        "value": 0.5,
        "threshold": 0.25,
        "severity": "critical",
    }


def test_github_repository_dispatch_carries_the_evidence(
    sqlite_store, receiver: Receiver, monkeypatch
):
    monkeypatch.setenv("GH_TOKEN", "ghp_secret_token_1")
    config = make_config(
        [{**RETRAIN, "sinks": {"critical": ["retrain"]}}],
        sinks={
            "retrain": {
                "type": "github",
                "repository": "acme/models",
                "token": "${GH_TOKEN}",
                "event_type": "retrain-fraud",
                "api_url": receiver.url(),
            }
        },
    )
    deliver(sqlite_store, config, [window(0, {"amount": 0.5, "country": 0.3, "tenure": 0.0})])
    [req] = receiver.requests
    assert req.path == "/repos/acme/models/dispatches"
    assert req.header("Authorization") == "Bearer ghp_secret_token_1"
    assert (
        req.header("Accept") == "application/vnd.github+json"
        and req.header("X-GitHub-Api-Version") == "2022-11-28"
    )
    body = req.json()
    assert set(body) == {"event_type", "client_payload"} and body["event_type"] == "retrain-fraud"
    p = body["client_payload"]
    assert len(p) <= 10
    assert (p["model_id"], p["model_version"], p["severity"], p["features"]) == (
        "fraud",
        "v1",
        "critical",
        ["amount", "country"],
    )
    assert p["window"]["start"] == "2026-01-01T00:00:00Z"
    [evidence] = p["evidence"]
    assert evidence["statistic"] == "drifted_share" and evidence["value"] == pytest.approx(2 / 3)
    assert evidence["details"]["statistics"]["amount"]["psi"] == 0.5
    assert p["reason"].startswith("retrain: drifted_share 0.6667 >= 0.3")


def test_gitlab_pipeline_trigger_sends_token_ref_and_variables(
    sqlite_store, receiver: Receiver, monkeypatch
):
    monkeypatch.setenv("GL_TOKEN", "glptt-secret-2")
    config = make_config(
        [{**RETRAIN, "sinks": {"critical": ["gitlab"]}}],
        sinks={
            "gitlab": {
                "type": "gitlab",
                "url": receiver.url(),
                "project": "ml/fraud",
                "token": "${GL_TOKEN}",
                "ref": "release",
                "variables": {"PIPELINE": "retrain"},
            }
        },
    )
    deliver(sqlite_store, config, [window(0, {"amount": 0.5, "country": 0.0})])
    [req] = receiver.requests
    assert req.path == "/api/v4/projects/ml%2Ffraud/trigger/pipeline"
    assert req.header("Content-Type") == "application/x-www-form-urlencoded"
    form = {k: v[0] for k, v in parse_qs(req.body.decode()).items()}
    assert form["token"] == "glptt-secret-2" and form["ref"] == "release"
    assert form["variables[PIPELINE]"] == "retrain"
    assert (
        form["variables[MONITOR_MODEL_ID]"],
        form["variables[MONITOR_MODEL_VERSION]"],
        form["variables[MONITOR_FEATURES]"],
    ) == ("fraud", "v1", "amount")
    assert form["variables[MONITOR_WINDOW_END]"] == "2026-01-01T01:00:00Z"
    assert json.loads(form["variables[MONITOR_EVIDENCE]"])[0]["rule"] == "retrain"
    assert form["variables[MONITOR_IDEMPOTENCY_KEY]"] == req.header("Idempotency-Key")


def test_generic_ci_webhook_sends_bearer_token_signed_evidence(sqlite_store, receiver: Receiver):
    config = make_config(
        [{**RETRAIN, "sinks": {"critical": ["ci"]}}],
        sinks={
            "ci": {
                "type": "ci_webhook",
                "url": receiver.url("/build"),
                "token": "ci-token-3",
                "secret": "ci-secret",
            }
        },
    )
    deliver(sqlite_store, config, [window(0, {"amount": 0.5})])
    [req] = receiver.requests
    assert (
        req.header("Authorization") == "Bearer ci-token-3"
        and req.header("Content-Type") == "application/json"
    )
    assert verify(
        "ci-secret",
        req.header(TIMESTAMP_HEADER),
        req.body,
        req.header(SIGNATURE_HEADER),
        now=time.time(),
    )
    body = req.json()
    assert (
        body["type"] == "monitor.retrain"
        and body["features"] == ["amount"]
        and body["evidence"][0]["kind"] == "dataset_drift"
    )


def test_retrain_triggers_get_neither_reminders_nor_resolutions(sqlite_store, receiver: Receiver):
    config = make_config(
        [{**RETRAIN, "repeat": "1h", "sinks": {"critical": ["ci"]}}],
        sinks={"ci": {"type": "ci_webhook", "url": receiver.url("/build"), "rate_limit": 0}},
    )
    drifted = {"amount": 0.5}
    deliver(
        sqlite_store,
        config,
        [window(0, drifted), window(1, drifted), window(2, drifted), window(3, {"amount": 0.0})],
    )
    assert len(receiver.requests) == 1


@pytest.mark.parametrize("kind", ["slack", "webhook", "github", "gitlab", "ci_webhook"])
def test_a_test_message_reaches_every_kind_of_sink(receiver: Receiver, kind: str):
    options = {
        "slack": {"url": receiver.url("/s")},
        "webhook": {"url": receiver.url("/w"), "secret": "s"},
        "github": {"repository": "o/r", "token": "t", "api_url": receiver.url()},
        "gitlab": {"project": "1", "token": "t", "url": receiver.url()},
        "ci_webhook": {"url": receiver.url("/c")},
    }[kind]
    config = make_config([], sinks={"x": {"type": kind, **options}})
    [sink] = build_sinks(config.alerts).values()
    sink.send(probe_payload("x", NOW))
    [req] = receiver.requests
    text = req.body.decode()
    assert "test" in text.lower()
    if kind == "github":
        assert (
            req.json()["event_type"] == "monitor-retrain-test"
            and req.json()["client_payload"]["test"] is True
        )
    if kind == "gitlab":
        assert parse_qs(text)["variables[MONITOR_TEST]"] == ["true"]


def test_a_client_error_is_permanent_and_a_server_error_is_not(receiver: Receiver):
    from .conftest import Reply

    config = make_config([], sinks={"x": {"type": "webhook", "url": receiver.url("/w")}})
    [sink] = build_sinks(config.alerts).values()
    receiver.plan.extend([Reply(404, body=b"no_service"), Reply(503, {"Retry-After": "7"})])
    with pytest.raises(DeliveryError) as err:
        sink.send(probe_payload("x", NOW))
    assert err.value.permanent and err.value.reason == "HTTP 404: no_service"
    with pytest.raises(DeliveryError) as err:
        sink.send(probe_payload("x", NOW))
    assert not err.value.permanent and err.value.retry_after == "7"
