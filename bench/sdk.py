"""The producer SDK during a broker outage: the latency of each ``log_prediction`` call.

20,000 calls (one event = 20 numeric + 2 categorical features) against a dead address (a closed
port on 127.0.0.1) with a 1,000-message local queue: the first 1,000 are queued, the rest are
dropped and counted. The yardstick is the same calls against a live broker (the embedded Tansu,
default queue). Also timed: ``close()`` during the outage (its default timeout is 5 s), and the
warnings logged during the 20,000 calls.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
from confluent_kafka.admin import AdminClient, NewTopic

from monitor.client import MonitorClient
from monitor.kafka.broker import EmbeddedBroker, free_port

QUEUE = 1_000
TOPIC = "bench-sdk"


class _Count(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.n = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.n += 1


def _events(n: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(5)
    numeric = rng.normal(size=(n, 20)).round(6)
    cats = rng.integers(0, 50, size=(n, 2))
    return [
        {f"num_{j:02d}": float(numeric[i, j]) for j in range(20)}
        | {"cat10": f"c{cats[i, 0] % 10}", "cat50": f"c{cats[i, 1]}"}
        for i in range(n)
    ]


def _calls(client: MonitorClient, events: list[dict[str, Any]]) -> dict[str, Any]:
    """Time each call; the percentiles in microseconds, and the warnings logged meanwhile."""
    counter = _Count()
    log = logging.getLogger("monitor.client")
    log.addHandler(counter)
    latency = np.empty(len(events), dtype=np.int64)
    clock = time.perf_counter_ns
    try:
        for i, features in enumerate(events):
            started = clock()
            client.log_prediction(features, prediction=1, score=0.5)
            latency[i] = clock() - started
    finally:
        log.removeHandler(counter)
    p50, p99 = np.percentile(latency, [50, 99]) / 1000
    return {
        "calls": len(events),
        "p50_us": p50,
        "p99_us": p99,
        "max_us": latency.max() / 1000,
        "warnings": counter.n,
    }


def _up(events: list[dict[str, Any]]) -> dict[str, Any]:
    with EmbeddedBroker() as broker:
        admin = AdminClient({"bootstrap.servers": broker.bootstrap_servers})
        for future in admin.create_topics([NewTopic(TOPIC, 1, 1)]).values():
            future.result(10)
        del admin  # before the broker stops: its handle would log the disconnection to stderr
        client = MonitorClient(
            broker.bootstrap_servers, model_id="demo", model_version="v1", predictions_topic=TOPIC
        )
        result = _calls(client, events)
        client.flush(60)
        return result | client.close()._asdict()


def _down(events: list[dict[str, Any]]) -> dict[str, Any]:
    client = MonitorClient(
        f"127.0.0.1:{free_port()}",
        model_id="demo",
        model_version="v1",
        producer_config={"queue.buffering.max.messages": QUEUE},
    )
    result = _calls(client, events) | client.stats._asdict()
    started = time.perf_counter()
    client.close()
    return result | {"close_s": time.perf_counter() - started}


def run(smoke: bool = False) -> dict[str, Any]:
    events = _events(2_000 if smoke else 20_000)
    return {"queue": QUEUE, "up": _up(events), "down": _down(events)}


def _row(name: str, x: dict[str, Any]) -> str:
    figures = (
        f"{x['p50_us']:.1f}",
        f"{x['p99_us']:.1f}",
        f"{x['max_us']:,.0f}",
        f"{x['sent']:,}",
        f"{x['dropped']:,}",
        str(x["warnings"]),
    )
    return f"| {name} | " + " | ".join(figures) + " |"


def render(r: dict[str, Any]) -> str:
    up, down = r["up"], r["down"]
    lines = [
        f"| SDK: {down['calls']:,} `log_prediction` calls | p50 µs | p99 µs | max µs | sent "
        + "| dropped | warnings logged |",
        "|---|---:|---:|---:|---:|---:|---:|",
        _row("Kafka up (embedded Tansu; yardstick)", up),
        _row(f"Kafka down (closed port), {r['queue']:,}-message queue", down),
    ]
    return "\n".join(lines) + (
        f"\n\nDuring the outage, `close()` returned after {down['close_s']:.1f} s (its default "
        f"timeout: 5 s), counting the {down['pending']:,} queued events as failed."
    )
