"""``monitor alerts list|show|silence|silences|unsilence|test|outbox|dispatch`` through click."""

from __future__ import annotations

import json

import pytest
import yaml
from click.testing import CliRunner

from monitor.alerts import AlertEvaluator
from monitor.cli import main
from monitor.config import load_config
from monitor.store import Store, schema

from .conftest import Receiver, evaluate, free_port, table, window


@pytest.fixture
def setup(tmp_path, receiver: Receiver, monkeypatch):
    monkeypatch.setenv("HOOK_URL", receiver.url("/hooks/cliXsecret"))
    monkeypatch.setenv("DOWN_URL", f"http://127.0.0.1:{free_port()}/hooks/downXsecret")
    path = tmp_path / "monitor.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "database_url": f"sqlite:///{tmp_path / 'm.db'}",
                "models": {
                    "fraud": {
                        "features": {"amount": {"kind": "numeric"}, "country": {"kind": "numeric"}},
                        "rules": [
                            {
                                "name": "drift",
                                "kind": "feature_drift",
                                "warning": 0.1,
                                "critical": 0.25,
                            },
                            {"name": "missing", "kind": "data_quality", "critical": 0.5},
                        ],
                    }
                },
                "alerts": {
                    "sinks": {
                        "hook": {"type": "webhook", "url": "${HOOK_URL}"},
                        "down": {"type": "slack", "url": "${DOWN_URL}"},
                    },
                    "routes": {"warning": ["hook"], "critical": ["hook"]},
                    "delivery": {"timeout": "2s"},
                },
            }
        )
    )
    config = load_config(path)
    store = Store(config.database_url)
    store.upgrade()
    ev = AlertEvaluator(config, store)
    evaluate(store, ev, [window(0, {"amount": 0.4, "country": 0.0})])
    evaluate(store, ev, [window(1, {"amount": 0.4, "country": 0.15})])
    yield str(path), store
    store.engine.dispose()


def run(*args: str) -> object:
    return CliRunner().invoke(main, ["alerts", *args], catch_exceptions=False)


def test_list_shows_active_alerts(setup):
    path, _ = setup
    out = run("list", "-c", path)
    assert out.exit_code == 0
    lines = out.output.splitlines()
    assert lines[0].split() == [
        "model",
        "version",
        "rule",
        "feature",
        "state",
        "severity",
        "value",
        "threshold",
        "since",
    ]
    assert [l.split()[:6] for l in lines[1:]] == [
        ["fraud", "v1", "drift", "amount", "firing", "critical"],
        ["fraud", "v1", "drift", "country", "firing", "warning"],
    ]
    rows = json.loads(run("list", "-c", path, "--all", "--format", "json").output)
    assert {(r["rule"], r["feature"], r["state"]) for r in rows} == {
        ("drift", "amount", "firing"),
        ("drift", "country", "firing"),
        ("missing", "amount", "inactive"),
        ("missing", "country", "inactive"),
    }


def test_show_gives_history_and_notifications(setup):
    path, _ = setup
    out = run("show", "-c", path, "--model", "fraud", "--rule", "drift", "--feature", "amount")
    assert out.exit_code == 0
    assert "fraud v1 drift amount: firing (critical)" in out.output
    assert "inactive  firing" in out.output and "notifications:" in out.output
    data = json.loads(
        run("show", "-c", path, "-m", "fraud", "-r", "drift", "--format", "json").output
    )
    assert [a["feature"] for a in data["alerts"]] == ["amount", "country"]
    assert [h["to"] for h in data["alerts"][0]["history"]] == ["firing"]
    assert [n["sink"] for n in data["notifications"]] == ["hook", "hook"]


def test_an_unknown_rule_is_a_clear_error(setup):
    path, _ = setup
    out = CliRunner().invoke(main, ["alerts", "show", "-c", path, "-m", "fraud", "-r", "nope"])
    assert out.exit_code == 2 and "no rule 'nope'" in out.output


def test_silence_then_list_and_remove_it(setup):
    path, store = setup
    out = run(
        "silence",
        "-c",
        path,
        "--model",
        "fraud",
        "--rule",
        "drift",
        "--for",
        "2h",
        "--comment",
        "deploying",
    )
    assert out.exit_code == 0 and out.output.startswith("silence 1: fraud drift until ")
    assert [
        (s["model_id"], s["rule"], s["expires_ms"] - s["created_ms"])
        for s in table(store, schema.alert_silences)
    ] == [("fraud", "drift", 7_200_000)]
    assert "deploying" in run("silences", "-c", path).output
    assert run("unsilence", "-c", path, "1").exit_code == 0
    assert table(store, schema.alert_silences) == []
    bad = CliRunner().invoke(
        main, ["alerts", "silence", "-c", path, "--model", "fraud", "--for", "soon"]
    )
    assert bad.exit_code == 2 and "--for" in bad.output


def test_test_sends_a_message_and_reports_failures_without_the_url(setup, receiver: Receiver):
    path, _ = setup
    out = run("test", "-c", path, "hook")
    assert out.exit_code == 0 and out.output.strip() == "sent a test message to sink hook (webhook)"
    assert receiver.requests[0].json()["type"] == "monitor.test"
    down = CliRunner().invoke(main, ["alerts", "test", "-c", path, "down"])
    assert down.exit_code == 1 and "sink down (slack): ConnectError" in down.output
    assert "downXsecret" not in down.output and "127.0.0.1" not in down.output


def test_outbox_and_dispatch_once(setup, receiver: Receiver):
    path, store = setup
    assert [l.split()[4] for l in run("outbox", "-c", path).output.splitlines()[1:]] == [
        "pending",
        "pending",
    ]
    assert (
        run("dispatch", "-c", path, "--once").output.strip().splitlines()[-1]
        == "attempted 2 notification(s)"
    )
    assert sorted(r["status"] for r in table(store, schema.outbox)) == ["delivered", "delivered"]
    assert len(receiver.requests) == 2
