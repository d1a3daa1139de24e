"""The dispatcher against real receivers and real databases: at-least-once delivery through
receivers that are down, slow, rate limiting or failing, and across restarts. The clock, the
sleep and the jitter are injected, so every delay is exact."""

from __future__ import annotations

import logging
import random
import threading

from prometheus_client import CollectorRegistry

from monitor.alerts import AlertEvaluator, Dispatcher
from monitor.alerts.outbox import claim_due
from monitor.alerts.sinks import build_sinks
from monitor.metrics import Metrics
from monitor.store import Store, schema
from tests.helpers import wait_for

from .conftest import Clock, Receiver, Reply, evaluate, free_port, make_config, table, window

DRIFT = {"name": "drift", "kind": "feature_drift", "warning": 0.1, "critical": 0.25}
DELIVERY = {"timeout": "2s", "max_attempts": 10, "backoff": "1s", "backoff_cap": "60s"}


def setup(store: Store, url: str, windows: int = 1, **delivery) -> object:
    config = make_config(
        [DRIFT],
        sinks={"hook": {"type": "webhook", "url": url, "secret": "s"}},
        routes={"critical": ["hook"]},
        delivery={**DELIVERY, **delivery},
    )
    ev = AlertEvaluator(config, store)
    for i in range(windows):  # alternate drift and calm: one notification per window
        evaluate(store, ev, [window(i, {"amount": 0.5 if i % 2 == 0 else 0.0})])
    return config


def dispatcher(config, store: Store, clock: Clock, **kwargs) -> Dispatcher:
    return Dispatcher.from_config(
        config,
        store,
        clock=clock,
        sleep=clock.sleep,
        rng=random.Random(7),
        evaluator=None,
        **kwargs,
    )


def statuses(store: Store) -> list[tuple[str, int]]:
    return [
        (r["status"], r["attempts"])
        for r in sorted(table(store, schema.outbox, drop=()), key=lambda r: r["id"])
    ]


def test_a_receiver_down_for_minutes_gets_the_notification_once_it_is_up(
    store: Store, clock: Clock
):
    port = free_port()
    config = setup(store, f"http://127.0.0.1:{port}/hook")
    d = dispatcher(config, store, clock)
    for _ in range(6):  # six minutes of refused connections
        d.run_once()
        clock.advance(60)
    assert statuses(store) == [("pending", 6)]
    assert "ConnectError" in table(store, schema.outbox)[0]["last_error"]
    receiver = Receiver(port=port)
    try:
        clock.advance(60)
        assert d.drain() == 1
        clock.advance(3600)
        assert d.drain() == 0
        assert statuses(store) == [("delivered", 7)]
        assert receiver.keys() == [table(store, schema.outbox)[0]["key"]]
    finally:
        receiver.stop()


def test_a_slow_receiver_times_out_and_the_retry_delivers(
    store: Store, clock: Clock, receiver: Receiver
):
    receiver.plan.append(Reply(delay_s=1.5))
    config = setup(store, receiver.url("/hook"), timeout="300ms")
    d = dispatcher(config, store, clock)
    d.run_once()
    [row] = table(store, schema.outbox)
    assert (row["status"], row["attempts"]) == ("pending", 1) and row["last_error"].startswith(
        "timed out after 0.3 s"
    )
    clock.advance(2)
    d.run_once()
    assert statuses(store) == [("delivered", 2)]
    assert (
        len(receiver.requests) == 2 and len(set(receiver.keys())) == 1
    )  # at least once; droppable by key


def test_429_retry_after_is_honoured_to_the_millisecond(
    store: Store, clock: Clock, receiver: Receiver
):
    receiver.plan.append(Reply(429, {"Retry-After": "120"}, body=b"rate_limited"))
    config = setup(store, receiver.url("/hook"))
    d = dispatcher(config, store, clock)
    d.run_once()
    [row] = table(store, schema.outbox)
    assert (
        row["next_attempt_ms"] == clock.ms + 120_000
        and row["last_error"] == "HTTP 429: rate_limited"
    )
    clock.advance(119.9)
    assert d.run_once() == 0
    clock.advance(0.1)
    assert d.run_once() == 1
    assert statuses(store) == [("delivered", 2)]


def test_500s_are_retried_with_capped_jittered_backoff_then_dead_with_the_reason(
    store: Store, clock: Clock, receiver: Receiver
):
    receiver.default = Reply(500, body=b"boom")
    config = setup(store, receiver.url("/hook"), max_attempts=5, backoff="10s", backoff_cap="30s")
    d = dispatcher(config, store, clock)
    delays = []
    for attempt in range(1, 6):
        d.run_once()
        [row] = table(store, schema.outbox)
        if attempt < 5:
            delay = row["next_attempt_ms"] - clock.ms
            assert 0 <= delay <= min(30_000, 10_000 * 2 ** (attempt - 1))
            delays.append(delay)
            clock.advance(delay / 1000)
    assert statuses(store) == [("dead", 5)]
    assert row["last_error"] == "HTTP 500: boom (gave up after 5 attempts)"
    assert len(receiver.requests) == 5 and len(set(delays)) == 4  # jittered
    clock.advance(3600)
    assert d.run_once() == 0  # dead stays dead


def test_a_permanent_client_error_is_dead_at_once(store: Store, clock: Clock, receiver: Receiver):
    receiver.plan.append(Reply(403, body=b"invalid_token"))
    config = setup(store, receiver.url("/hook"))
    dispatcher(config, store, clock).run_once()
    [row] = table(store, schema.outbox)
    assert (row["status"], row["attempts"], row["last_error"]) == (
        "dead",
        1,
        "HTTP 403: invalid_token (permanent error)",
    )


def test_a_restart_with_undelivered_notifications_delivers_them(
    store: Store, clock: Clock, receiver: Receiver
):
    config = setup(store, receiver.url("/hook"), windows=3)
    # The service stopped before its dispatcher ran; a new process starts on the same database.
    again = Store(store.url)
    try:
        d = dispatcher(config, again, clock)
        assert d.drain() == 3
    finally:
        again.engine.dispose()
    assert [s for s, _ in statuses(store)] == ["delivered"] * 3
    assert len(set(receiver.keys())) == 3 and len(receiver.requests) == 3


def test_a_dispatcher_that_died_mid_send_is_taken_over_after_its_lease(
    store: Store, clock: Clock, receiver: Receiver
):
    config = setup(store, receiver.url("/hook"))
    claimed = claim_due(
        store, clock.ms, 10, config.alerts.delivery.lease
    )  # ...and then the process died
    assert len(claimed) == 1
    d = dispatcher(config, store, clock)
    assert d.run_once() == 0  # still leased to the dead one
    clock.advance(config.alerts.delivery.lease / 1000)
    assert d.run_once() == 1
    assert statuses(store) == [("delivered", 2)] and len(receiver.requests) == 1


def test_two_dispatchers_never_send_the_same_row_twice(
    store: Store, clock: Clock, receiver: Receiver
):
    config = setup(store, receiver.url("/hook"), windows=12)
    ds = [
        dispatcher(
            config,
            Store(store.url),
            clock,
        )
        for _ in range(2)
    ]
    for d in ds:
        d.delivery = d.delivery.model_copy(update={"batch": 2})
    threads = [threading.Thread(target=d.drain) for d in ds]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    for d in ds:
        d.store.engine.dispose()
    assert [s for s, _ in statuses(store)] == ["delivered"] * 12
    assert len(receiver.requests) == 12 and len(set(receiver.keys())) == 12


def test_delivery_outcomes_are_counted(store: Store, clock: Clock, receiver: Receiver):
    receiver.plan.append(Reply(500))
    metrics = Metrics(CollectorRegistry())
    config = setup(store, receiver.url("/hook"))
    d = dispatcher(config, store, clock, metrics=metrics)
    d.run_once()
    clock.advance(120)
    d.run_once()
    sample = lambda outcome: metrics.registry.get_sample_value(
        "monitor_notifications_total", {"sink": "hook", "outcome": outcome}
    )
    assert (sample("retry"), sample("sent")) == (1.0, 1.0)


def test_a_notification_for_a_sink_no_longer_configured_goes_dead(store: Store, clock: Clock):
    setup(store, "http://127.0.0.1:9/hook")
    Dispatcher(store, {}, clock, clock.sleep).run_once()
    [row] = table(store, schema.outbox)
    assert (row["status"], row["last_error"]) == ("dead", "sink 'hook' is not configured")


def test_the_background_thread_delivers_and_stops(store: Store, receiver: Receiver):
    config = setup(store, receiver.url("/hook"), poll_interval="50ms")
    d = Dispatcher.from_config(config, store, evaluator=None).start()
    try:
        wait_for(lambda: receiver.requests, 60, "the dispatcher's thread to deliver", interval=0.02)
    finally:
        d.close()
    assert len(receiver.requests) == 1 and d._thread is None


# -- secrets
# ----------------------------------------------------------------------------------------
SECRETS = {
    "SLACK_URL_PATH": "/services/T0SECRET/B0SECRET/slackXsecretXpath",
    "HOOK_SECRET": "hook-signing-secret-value",
    "GH_TOKEN": "ghp_SuperSecretToken123",
    "GL_TOKEN": "glptt-SuperSecretTrigger456",
    "CI_TOKEN": "ci-bearer-SuperSecret789",
}


def test_tokens_and_webhook_urls_never_reach_the_logs(
    sqlite_url: str, clock: Clock, receivers, monkeypatch, caplog
):
    caplog.set_level(logging.DEBUG)
    failing = receivers(
        default=Reply(
            500,
            body=(
                b"error for ghp_SuperSecretToken123 at "
                b"/services/T0SECRET/B0SECRET/slackXsecretXpath"
            ),
        )
    )
    down = free_port()
    monkeypatch.setenv("SLACK_URL", failing.url(SECRETS["SLACK_URL_PATH"]))
    monkeypatch.setenv(
        "DOWN_HOOK_URL", f"http://127.0.0.1:{down}/hooks/downXsecretXpath?token=querySecretValue"
    )
    for name in ("HOOK_SECRET", "GH_TOKEN", "GL_TOKEN", "CI_TOKEN"):
        monkeypatch.setenv(name, SECRETS[name])
    sinks = {
        "slack": {"type": "slack", "url": "${SLACK_URL}"},
        "hook": {"type": "webhook", "url": "${DOWN_HOOK_URL}", "secret": "${HOOK_SECRET}"},
        "gh": {
            "type": "github",
            "repository": "o/r",
            "token": "${GH_TOKEN}",
            "api_url": failing.url(),
        },
        "gl": {"type": "gitlab", "project": "1", "token": "${GL_TOKEN}", "url": failing.url()},
        "ci": {"type": "ci_webhook", "url": failing.url("/ci"), "token": "${CI_TOKEN}"},
    }
    config = make_config(
        [DRIFT],
        sinks=sinks,
        routes={"critical": list(sinks)},
        delivery={**DELIVERY, "max_attempts": 2},
    )
    store = Store(sqlite_url)
    store.upgrade()
    evaluate(store, AlertEvaluator(config, store), [window(0, {"amount": 0.9})])
    d = dispatcher(config, store, clock)
    d.run_once()
    clock.advance(120)
    d.run_once()
    rows = table(store, schema.outbox)
    assert sorted(r["status"] for r in rows) == ["dead"] * 5
    errors = " ".join(r["last_error"] for r in rows)
    logged = caplog.text + errors + repr(build_sinks(config.alerts)) + repr(config)
    assert "sink gh" in caplog.text and "***" in errors  # sinks are named; echoed secrets redacted
    for secret in [
        *SECRETS.values(),
        "downXsecretXpath",
        "querySecretValue",
        failing.url(SECRETS["SLACK_URL_PATH"]),
    ]:
        assert secret not in logged, secret
    store.engine.dispose()
