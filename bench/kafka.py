"""End to end through the broker: produce a stream into the embedded Tansu broker, then time
`monitor run` consuming it (consume, decode, sketch, checkpoint, close, persist to SQLite) with
1 and 2 processes, in JSON and in Avro, against the raw decode rate of the same messages.

Each consumer runs in its own process (its RSS is its own). The clock runs from the first
message consumed to the checkpoint that covers the last one, so the group join (about 3 s on
Tansu with session.timeout.ms=6000) is not counted.
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

from bench import peak_rss_mb

PARTITIONS = 4


def _config(path: Path, bootstrap: str, topic: str, fmt: str, db: Path) -> Path:
    features = {f"num_{i:02d}": {"kind": "numeric"} for i in range(20)} | {
        "cat10": {"kind": "categorical"},
        "cat50": {"kind": "categorical"},
    }
    cfg = {
        "database_url": f"sqlite:///{db}",
        "checkpoint_interval": "2s",
        "idle_timeout": "600s",
        "kafka": {
            "bootstrap_servers": bootstrap,
            "group_id": f"bench-{topic}",
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
    """Run the service until its engine has consumed ``expected`` messages (or the parent's stop
    file appears); report when the first and the last message were consumed, RSS and the mean
    checkpoint time (CLOCK_MONOTONIC, comparable across processes)."""
    from prometheus_client import CollectorRegistry

    from monitor.config import load_config
    from monitor.metrics import Metrics
    from monitor.pipeline.kafka import KafkaService
    from monitor.store import Store

    cfg = load_config(config_path)
    metrics = Metrics(CollectorRegistry())
    service = KafkaService(cfg, Store(cfg.database_url), metrics=metrics)
    marks: dict[str, float] = {}
    stop_file = Path(config_path + ".stop")

    def consumed() -> float:
        return sum(
            s.value
            for m in metrics.consumed.collect()
            for s in m.samples
            if s.name.endswith("_total")
        )

    def watch() -> None:
        seen = 0.0
        while not service.stopping.is_set():
            now, count = time.monotonic(), consumed()
            if count > seen:
                marks.setdefault("first", now)
                marks["last"], seen = now, count
            if seen >= int(expected) or stop_file.exists():
                service.stop()
            time.sleep(0.002)

    threading.Thread(target=watch, daemon=True).start()
    service.run(install_signals=False)
    hist = {s.name: s.value for m in metrics.checkpoint_seconds.collect() for s in m.samples}
    print(
        json.dumps(
            {
                "consumed": consumed(),
                "first": marks.get("first"),
                "last": marks.get("last"),
                "rss_mb": peak_rss_mb(),
                "checkpoint_mean_ms": 1000
                * hist["monitor_checkpoint_duration_seconds_sum"]
                / max(hist["monitor_checkpoint_duration_seconds_count"], 1),
            }
        )
    )


def _decode_child(kind: str, path: str) -> None:
    """Raw decode rate of the messages in ``path`` (msgpack list of values): fastavro's
    schemaless_reader or the fastest JSON decoders, one message at a time, nothing else."""
    values = msgspec.msgpack.decode(Path(path).read_bytes())
    out = {}
    if kind == "avro":
        from fastavro import schemaless_reader

        from monitor.kafka.avro import parsed_schema

        schema = parsed_schema("prediction")
        started = time.monotonic()
        for i in range(0, len(values), 5000):
            objs = [schemaless_reader(io.BytesIO(v), schema, None) for v in values[i : i + 5000]]
        out["fastavro.schemaless_reader"] = len(values) / (time.monotonic() - started)
    else:
        import orjson

        for name, fn in (
            ("orjson.loads", orjson.loads),
            ("msgspec.json.decode", msgspec.json.Decoder().decode),
        ):
            started = time.monotonic()
            for i in range(0, len(values), 5000):
                objs = list(map(fn, values[i : i + 5000]))
            out[name] = len(values) / (time.monotonic() - started)
    del objs
    print(json.dumps(out))


def _child(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "bench.kafka", *args], stdout=subprocess.PIPE, text=True
    )


def _result(proc: subprocess.Popen[str]) -> dict[str, Any]:
    out, _ = proc.communicate(timeout=900)
    assert proc.returncode == 0, out
    return json.loads(out.strip().splitlines()[-1])


def _prepare(
    tmp: Path, bootstrap: str, fmt: str, spec: Any, values: list[bytes], keys: list[bytes], tag: str
) -> Path:
    from confluent_kafka.admin import AdminClient, NewTopic

    from monitor.config import load_config
    from monitor.layout import Layout
    from monitor.reference import ReferenceProfile
    from monitor.store import Store
    from monitor.synth import reference_rows
    from tests.helpers import rows_of

    topic = f"bench-{fmt}-{tag}-{os.getpid()}-{time.time_ns() % 10**6}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for f in admin.create_topics(
        [NewTopic(topic, PARTITIONS, 1), NewTopic(f"{topic}-dlq", 1, 1)]
    ).values():
        f.result(10)
    _produce(bootstrap, topic, values, keys)
    path = _config(tmp / f"{topic}.yaml", bootstrap, topic, fmt, tmp / f"{topic}.db")
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


def run(smoke: bool = False) -> dict[str, Any]:
    from monitor.kafka.broker import EmbeddedBroker

    n = 20_000 if smoke else 500_000
    n_avro = 10_000 if smoke else 200_000
    spec, lines = _events(n)
    keys = [msgspec.json.decode(line, type=dict)["prediction_id"].encode() for line in lines]
    avro_values = _avro(lines[:n_avro])
    results: dict[str, Any] = {"events": n, "avro_events": n_avro}
    with tempfile.TemporaryDirectory() as tmp_dir, EmbeddedBroker() as broker:
        tmp = Path(tmp_dir)
        for kind, values in (("json", lines), ("avro", avro_values)):
            blob = tmp / f"{kind}.msgpack"
            blob.write_bytes(msgspec.msgpack.encode(values))
            results[f"{kind}_decoders"] = _result(_child("decode", kind, str(blob)))
        for processes in (1, 2):
            path = _prepare(
                tmp, broker.bootstrap_servers, "json", spec, lines, keys, f"p{processes}"
            )
            results[f"json_{processes}p"] = _run_consumers(path, n, processes)
        path = _prepare(
            tmp, broker.bootstrap_servers, "avro", spec, avro_values, keys[:n_avro], "p1"
        )
        results["avro_1p"] = _run_consumers(path, n_avro, 1)
    results["json_share_of_fastest"] = results["json_1p"]["events_per_s"] / max(
        results["json_decoders"].values()
    )
    results["avro_share_of_fastavro"] = (
        results["avro_1p"]["events_per_s"] / results["avro_decoders"]["fastavro.schemaless_reader"]
    )
    return results


def render(r: dict[str, Any]) -> str:
    lines = [
        "| measurement | events/s | peak RSS MB | mean checkpoint ms |",
        "|---|---:|---:|---:|",
    ]
    for name, rate in sorted(r["json_decoders"].items(), key=lambda kv: -kv[1]):
        lines.append(f"| raw decode of the same JSON messages: {name} | {rate:,.0f} | | |")
    for p in (1, 2):
        x = r[f"json_{p}p"]
        lines.append(
            f"| **monitor run**, JSON, {p} process{'es' if p > 1 else ''} ({PARTITIONS} "
            f"partitions) | **{x['events_per_s']:,.0f}** | {x['rss_mb']:.0f} | "
            f"{x['checkpoint_mean_ms']:.1f} |"
        )
    lines.append(
        "| share of the fastest raw JSON decoder (1 process) | "
        f"{r['json_share_of_fastest']:.0%} | | |"
    )
    lines.append(
        "| raw decode of the same Avro messages: fastavro.schemaless_reader | "
        f"{r['avro_decoders']['fastavro.schemaless_reader']:,.0f} | | |"
    )
    x = r["avro_1p"]
    lines.append(
        f"| **monitor run**, Avro (raw binary), 1 process | **{x['events_per_s']:,.0f}** | "
        f"{x['rss_mb']:.0f} | {x['checkpoint_mean_ms']:.1f} |"
    )
    lines.append(f"| share of fastavro's raw decode | {r['avro_share_of_fastavro']:.0%} | | |")
    lines.append(
        f"\n{r['events']:,} JSON events and {r['avro_events']:,} Avro events, 20 numeric + "
        "2 categorical features, produced first, then consumed."
    )
    return "\n".join(lines)


if __name__ == "__main__":
    kind, *rest = sys.argv[1:]
    {"consume": _consumer_child, "decode": _decode_child}[kind](*rest)
