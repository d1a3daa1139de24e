"""The producer SDK never stalls its caller: against a dead address (a closed port on 127.0.0.1)
with a small local queue, every call returns, the drops are counted and one warning is logged
per outage; against Tansu, delivery works and the counters say so; an outage that ends is
logged as over, and the next one is logged again."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from monitor.client import ClientStats, MonitorClient
from monitor.exceptions import KafkaError
from monitor.kafka.broker import EmbeddedBroker, free_port

QUEUE = 50


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The WARNING-or-worse lines of the SDK and of librdkafka (its child logger)."""
    return [
        r.getMessage()
        for r in caplog.records
        if r.name.startswith("monitor.client") and r.levelno >= logging.WARNING
    ]


def wait_for(condition: Callable[[], bool], client: MonitorClient, seconds: float = 60) -> None:
    """Serve the client's callbacks (by flushing briefly) until ``condition()``."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met"
        try:
            client.flush(0.1)
        except KafkaError:
            pass


def dead_client(**kwargs: Any) -> MonitorClient:
    return MonitorClient(
        f"127.0.0.1:{free_port()}",
        model_id="m",
        model_version="1",
        producer_config={"queue.buffering.max.messages": QUEUE, **kwargs.pop("config", {})},
        **kwargs,
    )


def call_in_thread(fn: Callable[[], Any], seconds: float = 120) -> None:
    """Run ``fn`` in a thread; it must return (a stalled call would hang there forever)."""
    done = threading.Event()
    errors: list[Exception] = []

    def run() -> None:
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 (failed on below, in the test's thread)
            errors.append(exc)
        done.set()

    threading.Thread(target=run, daemon=True).start()
    assert done.wait(seconds), "the calls did not return: the SDK stalled its caller"
    assert not errors, errors


def test_a_dead_broker_costs_dropped_events_and_one_warning(caplog, capfd) -> None:
    caplog.set_level(logging.DEBUG, logger="monitor.client")
    client = dead_client()
    call_in_thread(lambda: [client.log_prediction({"x": 1.0}, prediction=1) for _ in range(2_000)])
    assert client.stats == ClientStats(sent=0, dropped=2_000 - QUEUE, failed=0, pending=QUEUE)

    # librdkafka's connection failures reach Python logging, at DEBUG, never stderr.
    def refused() -> bool:
        return any(
            r.name == "monitor.client.librdkafka" and "Connection refused" in r.getMessage()
            for r in caplog.records
        )

    wait_for(refused, client)
    [warning] = warnings(caplog)
    assert warning.startswith("MonitorClient: ")
    assert (
        f"events queue locally (up to {QUEUE}); when the queue is full, they are dropped" in warning
    )
    assert not any(r.levelno > logging.DEBUG for r in caplog.records if "librdkafka" in r.name)
    with pytest.raises(KafkaError, match=r"^1950 event\(s\) dropped .*; 50 message\(s\) still"):
        client.flush(0)
    assert client.close(0) == ClientStats(sent=0, dropped=2_000 - QUEUE, failed=QUEUE, pending=0)
    assert (
        "MonitorClient closed: 50 message(s) still undelivered after 0s, discarded" in caplog.text
    )
    assert len(warnings(caplog)) == 2  # the outage, and what close could not deliver
    assert "%3|" not in capfd.readouterr().err


def test_labels_and_features_are_dropped_the_same_way() -> None:
    client = dead_client(config={"log_level": 0})
    call_in_thread(lambda: [client.log_label(str(i), 1) for i in range(QUEUE + 10)])
    call_in_thread(lambda: [client.log_features({"x": 1.0}) for _ in range(10)])
    assert client.stats.dropped == 20
    client.close(0)


def test_block_waits_up_to_its_timeout_then_drops() -> None:
    client = dead_client(on_full="block", block_timeout=0.02, config={"log_level": 0})
    call_in_thread(
        lambda: [client.log_prediction({"x": 1.0}, prediction=1) for _ in range(QUEUE + 5)]
    )
    assert client.stats == ClientStats(sent=0, dropped=5, failed=0, pending=QUEUE)
    assert client.close(0).failed == QUEUE


def test_block_lets_a_small_queue_through_a_live_broker(
    bootstrap, topic_factory, read_topic
) -> None:
    topic = topic_factory()
    client = MonitorClient(
        bootstrap,
        model_id="m",
        model_version="1",
        predictions_topic=topic,
        on_full="block",
        block_timeout=60,
        producer_config={"queue.buffering.max.messages": 5},
    )
    for _ in range(300):  # far more than the queue holds: each waits for room, none is lost
        client.log_prediction({"x": 1.0}, prediction=1)
    client.flush(30)
    assert client.close() == ClientStats(sent=300, dropped=0, failed=0, pending=0)
    assert len(read_topic(topic, 300)) == 300


def test_delivery_through_tansu_is_counted_as_sent(
    bootstrap, topic_factory, read_topic, caplog
) -> None:
    predictions, labels = topic_factory(), topic_factory()
    with MonitorClient(
        bootstrap,
        model_id="m",
        model_version="1",
        predictions_topic=predictions,
        labels_topic=labels,
    ) as client:
        ids = [client.log_prediction({"x": float(i)}, prediction=i % 2) for i in range(200)]
        for pid in ids[:100]:
            client.log_label(pid, 1)
        client.flush(30)
        assert client.stats == ClientStats(sent=300, dropped=0, failed=0, pending=0)
    assert client.stats == ClientStats(sent=300, dropped=0, failed=0, pending=0)
    assert len(read_topic(predictions, 200)) == 200 and len(read_topic(labels, 100)) == 100
    assert warnings(caplog) == []


def test_an_outage_that_ends_is_logged_as_over_and_the_next_one_again(topic_name, caplog) -> None:
    caplog.set_level(logging.INFO, logger="monitor.client")
    port = free_port()
    topic = topic_name("outage")  # the broker auto-creates it once it is up
    client = MonitorClient(
        f"127.0.0.1:{port}",
        model_id="m",
        model_version="1",
        predictions_topic=topic,
        producer_config={"reconnect.backoff.max.ms": 200},
    )
    for _ in range(10):
        client.log_prediction({"x": 1.0}, prediction=1)
    wait_for(lambda: len(warnings(caplog)) == 1, client)
    with EmbeddedBroker(port=port):
        wait_for(lambda: "delivery to Kafka resumed" in caplog.text, client)
        client.flush(30)
        assert client.stats == ClientStats(sent=10, dropped=0, failed=0, pending=0)
    assert "meanwhile 0 event(s) dropped and 0 failed" in caplog.text
    client.log_prediction({"x": 1.0}, prediction=1)  # the broker is gone again
    wait_for(lambda: len(warnings(caplog)) == 2, client)
    assert all("Kafka is unreachable" in w for w in warnings(caplog))
    client.close(0)


def test_counters_are_exact_when_many_threads_log() -> None:
    client = dead_client(config={"log_level": 0})

    def log() -> None:
        for _ in range(500):
            client.log_prediction({"x": 1.0}, prediction=1)

    threads = [threading.Thread(target=log) for _ in range(4)]
    call_in_thread(lambda: [t.start() for t in threads] + [t.join() for t in threads])
    assert client.stats == ClientStats(sent=0, dropped=2_000 - QUEUE, failed=0, pending=QUEUE)
    client.close(0)
