"""End to end through the broker: produce a stream into the embedded Tansu broker, then time
`monitor run` consuming it (consume, decode, sketch, checkpoint, close, persist; SQLite, and
PostgreSQL for one JSON process) with 1 and 2 processes, in JSON and in Avro, divided by the
yardstick: the same messages consumed first, then decoded the fastest way (JSON: msgspec into
the product's typed Struct; Avro: fastavro's ``schemaless_reader``; :mod:`bench.yardsticks`).

Each consumer runs in its own process (its RSS is its own), each run with a fresh consumer
group and database over the same topic, and each run is divided by the yardstick measured just
before it (on a shared machine the load moves between two measurements minutes apart); figures
are medians of ``repeat`` runs. The clock runs from the first message handed to processing to
the end of the last one's, so the group join (about 3 s on Tansu with session.timeout.ms=6000)
is not counted.
"""

from __future__ import annotations

import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import msgspec
import yaml

from bench import database, medians, peak_rss_mb
from bench.yardsticks import TYPED, best_typed

PARTITIONS = 4


def _config(path: Path, bootstrap: str, topic: str, fmt: str, url: str) -> Path:
    features = {f"num_{i:02d}": {"kind": "numeric"} for i in range(20)} | {
        "cat10": {"kind": "categorical"},
        "cat50": {"kind": "categorical"},
    }
    cfg = {
        "database_url": url,
        "checkpoint_interval": "2s",
        "idle_timeout": "600s",
        "kafka": {
            "bootstrap_servers": bootstrap,
            "group_id": f"bench-{path.stem}",
            "partitions": PARTITIONS,
            "dead_letter_topic": f"{topic}-dlq",
            "consumer": {"session.timeout.ms": 6000},
        },
        "metrics": {"port": 0},
        "models": {
            "demo": {
                "window": "1000s",
                "features": features,
                "reference": {"baseline_events": 0},
                "topics": {"predictions": topic, "labels": None, "format": fmt},
            }
        },
    }
    path.write_text(yaml.safe_dump(cfg))
    return path


def _events(n: int) -> tuple[Any, list[bytes]]:
    """The synthetic stream's spec and its events as JSON messages."""
    from monitor.synth import StreamSpec, default_features, generate, to_jsonl

    spec = StreamSpec(features=default_features(), seed=3)
    lines = b"".join(
        to_jsonl(spec, generate(spec, min(100_000, n - o), o)) for o in range(0, n, 100_000)
    ).splitlines()
    return spec, lines


def _avro(lines: list[bytes]) -> list[bytes]:
    from fastavro import schemaless_writer

    from monitor.kafka.avro import parsed_schema

    schema = parsed_schema("prediction")
    decoder = msgspec.json.Decoder()
    out = []
    for line in lines:
        buf = io.BytesIO()
        schemaless_writer(buf, schema, decoder.decode(line))
        out.append(buf.getvalue())
    return out


def _produce(bootstrap: str, topic: str, values: list[bytes], keys: list[bytes]) -> None:
    from confluent_kafka import Producer

    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "linger.ms": 50,
            "batch.num.messages": 10000,
            "compression.type": "none",
        }
    )
    for value, key in zip(values, keys):
        while True:
            try:
                producer.produce(topic, value=value, key=key)
                break
            except BufferError:
                producer.poll(0.05)
    assert producer.flush(120) == 0


def _consumer_child(config_path: str, expected: str) -> None:
    """Run the service until it has processed ``expected`` messages (or the parent's stop file
    appears); report when the first message was handed to processing and when the last was
    processed, RSS and the mean checkpoint time (CLOCK_MONOTONIC, comparable across processes).

    The clock is read around the service's own per-partition step, not by a thread polling its
    metrics: such a thread, at a 2 ms period, took 15% of the interpreter from the service."""
    from prometheus_client import CollectorRegistry

    from monitor.config import load_config
    from monitor.metrics import Metrics
    from monitor.pipeline.kafka import KafkaService
    from monitor.store import Store

    cfg = load_config(config_path)
    metrics = Metrics(CollectorRegistry())
    service = KafkaService(cfg, Store(cfg.database_url), metrics=metrics)
    marks: dict[str, float] = {}
    processed = 0
    process = service._process

    def timed(topic: str, partition: int, msgs: list[Any]) -> None:
        nonlocal processed
        marks.setdefault("first", time.monotonic())
        process(topic, partition, msgs)
        processed += len(msgs)
        marks["last"] = time.monotonic()
        if processed >= int(expected):
            service.stop()

    service._process = timed  # type: ignore[method-assign]
    stop_file = Path(config_path + ".stop")

    def watch() -> None:
        while not service.stopping.wait(0.05):
            if stop_file.exists():
                service.stop()

    threading.Thread(target=watch, daemon=True).start()
    service.run(install_signals=False)
    hist = {s.name: s.value for m in metrics.checkpoint_seconds.collect() for s in m.samples}
    print(
        json.dumps(
            {
                "consumed": processed,
                "first": marks.get("first"),
                "last": marks.get("last"),
                "rss_mb": peak_rss_mb(),
                "checkpoint_mean_ms": 1000
                * hist["monitor_checkpoint_duration_seconds_sum"]
                / max(hist["monitor_checkpoint_duration_seconds_count"], 1),
            }
        )
    )


def _decode_child(kind: str, config_path: str, expected: str) -> None:
    """The yardstick: consume every message of the config's topic first (a plain consumer with
    ``monitor run``'s client settings, no decode), then, with ``monitor run``'s collector
    settings, time the fastest decodes."""
    from confluent_kafka import Consumer, TopicPartition

    from bench.yardsticks import avro_values_rate, json_values_rates
    from monitor.config import load_config
    from monitor.pipeline.build import steady_collector
    from monitor.pipeline.kafka import consumer_defaults

    cfg = load_config(config_path)
    topic = cfg.models["demo"].topics.predictions
    consumer = Consumer(  # the client settings monitor run consumes with
        consumer_defaults(f"bench-decode-{os.getpid()}")
        | {"bootstrap.servers": cfg.kafka.bootstrap_servers}
    )
    consumer.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
    values: list[bytes] = []
    started, first = 0.0, 0  # timed from the first batch on, as monitor run's clock
    while len(values) < int(expected):
        batch = [m.value() for m in consumer.consume(10_000, 1.0) if not m.error()]
        if batch and not values:
            started, first = time.perf_counter(), len(batch)
        values += batch
    consume_rate = (len(values) - first) / (time.perf_counter() - started)
    consumer.close()
    with steady_collector():
        if kind == "avro":
            out = {AVRO_YARDSTICK: avro_values_rate(values)}
        else:
            out = json_values_rates(cfg, values)
    print(json.dumps(out | {"consume only (confluent_kafka, no decode)": consume_rate}))


def _child(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "bench.kafka", *args], stdout=subprocess.PIPE, text=True
    )


def _result(proc: subprocess.Popen[str]) -> dict[str, Any]:
    out, _ = proc.communicate(timeout=900)
    assert proc.returncode == 0, out
    return json.loads(out.strip().splitlines()[-1])


def _topic(bootstrap: str, fmt: str, values: list[bytes], keys: list[bytes]) -> str:
    """A new topic (and its dead-letter topic) holding ``values``."""
    from confluent_kafka.admin import AdminClient, NewTopic

    topic = f"bench-{fmt}-{os.getpid()}-{time.time_ns() % 10**9}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for f in admin.create_topics(
        [NewTopic(topic, PARTITIONS, 1), NewTopic(f"{topic}-dlq", 1, 1)]
    ).values():
        f.result(10)
    _produce(bootstrap, topic, values, keys)
    return topic


def _setup(tmp: Path, bootstrap: str, topic: str, fmt: str, spec: Any, url: str) -> Path:
    """A config with a consumer group of its own, and its store with the reference profile."""
    from monitor.config import load_config
    from monitor.layout import Layout
    from monitor.reference import ReferenceProfile
    from monitor.store import Store
    from monitor.synth import reference_rows
    from tests.helpers import rows_of

    path = _config(tmp / f"{topic}-{time.time_ns() % 10**9}.yaml", bootstrap, topic, fmt, url)
    cfg = load_config(path)
    store = Store(cfg.database_url)
    store.upgrade()
    model = cfg.models["demo"]
    store.save_reference(
        ReferenceProfile.build(
            "demo",
            "*",
            Layout.from_model(model),
            rows_of(reference_rows(spec, 100_000)),
            model.reference.fine_bins,
        )
    )
    store.engine.dispose()
    return path


def _run_consumers(path: Path, n: int, processes: int) -> dict[str, Any]:
    # Each process stops once its own partitions are fully checkpointed; with two, each gets two
    # of the four partitions, but which two is up to the group, so each stops when the shared
    # SQL offsets reach n (the marker file is a fallback).
    children = [
        _child("consume", str(path), str(n if processes == 1 else 10**12)) for _ in range(processes)
    ]
    if processes > 1:
        from monitor.config import load_config
        from monitor.store import Store

        cfg = load_config(path)
        store = Store(cfg.database_url)
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            try:
                done = sum(store.load_state(cfg.kafka.group_id).offsets.values())
            except Exception:  # noqa: BLE001 (the children are writing; try again)
                done = 0
            if done >= n:
                break
            time.sleep(0.2)
        Path(str(path) + ".stop").write_text("")
    results = [_result(c) for c in children]
    first = min(r["first"] for r in results if r["first"])
    last = max(r["last"] for r in results if r["last"])
    return {
        "events_per_s": n / (last - first),
        "rss_mb": max(r["rss_mb"] for r in results),
        "checkpoint_mean_ms": statistics.mean(r["checkpoint_mean_ms"] for r in results),
    }


AVRO_YARDSTICK = "fastavro.schemaless_reader, per message"


def _yardstick(rates: dict[str, float]) -> float:
    """The yardstick among one decode child's rates (JSON: the fastest typed way)."""
    return rates[AVRO_YARDSTICK] if AVRO_YARDSTICK in rates else best_typed(rates)[1]


def run(smoke: bool = False) -> dict[str, Any]:
    from monitor.kafka.broker import EmbeddedBroker

    repeat = 1 if smoke else 3
    n = 20_000 if smoke else 500_000
    n_avro = 10_000 if smoke else 200_000
    spec, lines = _events(n)
    keys = [msgspec.json.decode(line, type=dict)["prediction_id"].encode() for line in lines]
    avro_values = _avro(lines[:n_avro])
    results: dict[str, Any] = {"events": n, "avro_events": n_avro}
    with tempfile.TemporaryDirectory() as tmp_dir, EmbeddedBroker() as broker:
        tmp, bootstrap = Path(tmp_dir), broker.bootstrap_servers
        for fmt, values, count in (("json", lines, n), ("avro", avro_values, n_avro)):
            topic = _topic(bootstrap, fmt, values, keys[:count])

            decoders: list[dict[str, float]] = []
            plain = _setup(tmp, bootstrap, topic, fmt, spec, "sqlite://")

            def measure(db: str, processes: int = 1) -> dict[str, Any]:
                """Medians of ``repeat`` runs, each divided by the yardstick measured just
                before it (the load of a shared machine moves between the two otherwise)."""
                runs = []
                for _ in range(repeat):
                    rates = _result(_child("decode", fmt, str(plain), str(count)))  # noqa: B023
                    decoders.append(rates)  # noqa: B023
                    with database(db) as url:
                        path = _setup(tmp, bootstrap, topic, fmt, spec, url)  # noqa: B023
                        run = _run_consumers(path, count, processes)  # noqa: B023
                    runs.append(run | {"share": run["events_per_s"] / _yardstick(rates)})
                return medians(runs) | {"rss_mb": max(r["rss_mb"] for r in runs)}

            results[f"{fmt}_1p"] = measure("sqlite")
            if fmt == "json":
                results["json_2p"] = measure("sqlite", 2)
                results["json_1p_postgresql"] = measure("postgresql")
            results[f"{fmt}_decoders"] = medians(decoders)
    results["json_yardstick"] = best_typed(results["json_decoders"])
    return results


def render(r: dict[str, Any]) -> str:
    name, yardstick = r["json_yardstick"]
    lines = [
        "| measurement | events/s | ÷ yardstick | peak RSS MB | mean checkpoint ms |",
        "|---|---:|---:|---:|---:|",
    ]
    for way, rate in sorted(r["json_decoders"].items(), key=lambda kv: -kv[1]):
        label = f"**JSON yardstick: {way}**" if way == name else f"JSON, {way}"
        if not way.startswith(TYPED):
            label += " (context)"
        lines.append(f"| {label} | {rate:,.0f} | {rate / yardstick:.0%} | | |")
    for key, title in (
        ("json_1p", "1 process, SQLite"),
        ("json_2p", "2 processes, SQLite"),
        ("json_1p_postgresql", "1 process, PostgreSQL"),
    ):
        x = r[key]
        lines.append(
            f"| **monitor run**, JSON, {title} | **{x['events_per_s']:,.0f}** | "
            f"**{x['share']:.0%}** | {x['rss_mb']:.0f} | "
            f"{x['checkpoint_mean_ms']:.1f} |"
        )
    avro = r["avro_decoders"]
    fastavro = avro[AVRO_YARDSTICK]
    lines.append(f"| **Avro yardstick: {AVRO_YARDSTICK}** | {fastavro:,.0f} | 100% | | |")
    consume = avro["consume only (confluent_kafka, no decode)"]
    lines.append(
        f"| Avro, consume only (confluent_kafka, no decode) (context) | {consume:,.0f} | "
        f"{consume / fastavro:.0%} | | |"
    )
    x = r["avro_1p"]
    lines.append(
        f"| **monitor run**, Avro (raw binary), 1 process, SQLite | **{x['events_per_s']:,.0f}** "
        f"| **{x['share']:.0%}** | {x['rss_mb']:.0f} | "
        f"{x['checkpoint_mean_ms']:.1f} |"
    )
    lines.append(
        f"\n{r['events']:,} JSON events and {r['avro_events']:,} Avro events (20 numeric + 2 "
        f"categorical features) produced into {PARTITIONS} partitions first, then consumed. "
        "÷ yardstick: each **monitor run** row is the median over its runs of the run's rate "
        "divided by the yardstick measured just before it: JSON by the fastest typed decode of "
        "the same message values (consumed first, then decoded with `monitor run`'s collector "
        "settings), Avro by fastavro's; the yardstick rows are medians over all those "
        "measurements. The consume-only rows (the client alone, with `monitor run`'s consumer "
        "settings) are context."
    )
    return "\n".join(lines)


if __name__ == "__main__":
    kind, *rest = sys.argv[1:]
    {"consume": _consumer_child, "decode": _decode_child}[kind](*rest)
