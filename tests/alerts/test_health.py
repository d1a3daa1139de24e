"""Pipeline health: no windows for a model for a while, judged by the dispatcher on the wall
clock from the latest persisted window."""

from __future__ import annotations

import random

from monitor.alerts import Dispatcher
from monitor.engine import EngineState
from monitor.store import Store, schema
from tests.helpers import checkpoint

from .conftest import HOUR, T0, Clock, Receiver, make_config, table, window

MINUTE = 60


def test_no_windows_for_a_while_fires_escalates_and_resolves_once(store: Store, receiver: Receiver):
    config = make_config(
        [{"name": "silent", "kind": "pipeline_health", "warning": "10m", "critical": "30m"}],
        sinks={"hook": {"type": "webhook", "url": receiver.url("/hook")}},
        routes={"warning": ["hook"], "critical": ["hook"]},
        health_interval="1m",
    )
    clock = Clock((T0 + HOUR) / 1000)
    make = lambda: Dispatcher.from_config(
        config, store, clock=clock, sleep=clock.sleep, rng=random.Random(1)
    )
    d = make()
    assert d.run_once() == 0  # never saw a window: nothing to judge
    checkpoint(store, "job", EngineState(windows=[window(0, {"amount": 0.0})]))
    clock.advance(5 * MINUTE)
    d.run_once()
    clock.advance(10 * MINUTE)
    d.run_once()  # 15 minutes: warning
    clock.advance(30)
    d.run_once()  # not due yet
    clock.advance(20 * MINUTE)
    d.run_once()  # 35.5 minutes: critical
    make().run_once()  # a second process judging at the same time adds nothing
    checkpoint(store, "job", EngineState(windows=[window(1, {"amount": 0.0})]))
    clock.t = (T0 + 2 * HOUR) / 1000 + MINUTE
    d.run_once()  # data again: resolved
    d.run_once()
    sent = [
        (b["status"], b["severity"], b["alerts"][0]["value"])
        for b in (r.json() for r in receiver.requests)
    ]
    assert sent == [
        ("firing", "warning", 900.0),
        ("firing", "critical", 2130.0),
        ("resolved", "critical", 60.0),
    ]
    assert [
        (h["model_version"], h["from_state"], h["to_state"], h["severity"])
        for h in sorted(table(store, schema.alert_history), key=lambda h: h["at_ms"])
    ] == [
        ("*", "inactive", "firing", "warning"),
        ("*", "firing", "firing", "critical"),
        ("*", "firing", "resolved", "critical"),
    ]
