"""Building blocks of the service tests: configs, producing a stream, running `monitor run`
in a thread or as a process, and reading windows back for comparison."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path
from typing import Any

import msgspec
import yaml
from confluent_kafka import Producer
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from monitor.config import Config, load_config
from monitor.kafka.broker import free_port
from monitor.kafka.topics import client_config, create_topics
from monitor.metrics import Metrics
from monitor.pipeline.files import replay
from monitor.pipeline.kafka import KafkaService
from monitor.reference import ReferenceProfile
from monitor.store import Store
from monitor.synth import (
    DriftSpec,
    StreamSpec,
    default_features,
    generate,
    reference_rows,
    to_jsonl,
)
from tests.helpers import rows_of, wait_for

MONITOR = str(Path(sys.executable).with_name("monitor"))


#: The segment (key ``region``) of event i is REGIONS[i % 7]: with SEGMENTS, eu and us are
#: monitored on their own and apac and br are "other"; so every Kafka test checks segment windows.
REGIONS = ("eu", "us", "eu", "apac", "us", "eu", "br")
SEGMENTS = {"keys": ["region"], "top_k": 2, "min_reference_rows": 50}


def stream(n: int, drift_at: int | None = None) -> tuple[StreamSpec, bytes]:
    """``n`` events 1 ms apart (3 numeric + 1 categorical feature, a region segment), drift in
    num_01 from ``drift_at`` on."""
    drift = (DriftSpec("num_01", 1.0, drift_at),) if drift_at is not None else ()
    spec = StreamSpec(
        features=default_features(3, {"cat10": 10}), interval_ms=1, drift=drift, seed=5
    )
    lines = b"".join(
        to_jsonl(spec, generate(spec, min(50_000, n - o), o)) for o in range(0, n, 50_000)
    ).splitlines()
    tagged = [
        line[:-1] + b',"segments":{"region":"%s"}}' % REGIONS[i % 7].encode()
        for i, line in enumerate(lines)
    ]
    return spec, b"".join(line + b"\n" for line in tagged)


def write_config(
    path: Path,
    *,
    db_url: str,
    bootstrap: str,
    topic: str,
    group: str,
    window: str = "10s",
    partitions: int = 4,
    labels_topic: str | None = None,
    **extra: Any,
) -> Path:
    config = {
        "database_url": db_url,
        "checkpoint_interval": extra.pop("checkpoint_interval", "1s"),
        "idle_timeout": extra.pop("idle_timeout", "2s"),
        "kafka": {
            "bootstrap_servers": bootstrap,
            "group_id": group,
            "partitions": partitions,
            "dead_letter_topic": f"{topic}-dlq",
            "consumer": {"session.timeout.ms": 6000, "heartbeat.interval.ms": 500},
        },
        "metrics": {"port": 0},
        "models": {
            "demo": {
                "window": window,
                "reference": {"baseline_events": 0, "fine_bins": 200},
                "topics": {"predictions": topic, "labels": labels_topic},
                "features": {
                    "num_00": {"kind": "numeric"},
                    "num_01": {"kind": "numeric"},
                    "num_02": {"kind": "numeric"},
                    "cat10": {"kind": "categorical"},
                },
                "segments": SEGMENTS,
                **extra,
            }
        },
    }
    path.write_text(yaml.safe_dump(config))
    return path


def configured_topic(
    tmp: Path, bootstrap: str, topic: str, group: str, db_url: str, partitions: int = 2
) -> tuple[Config, Path]:
    """A config for ``topic`` (which the caller made with ``partitions`` partitions), loaded,
    with its topics created as `monitor topics create` does (the dead-letter topic too)."""
    path = write_config(
        tmp / "monitor.yaml",
        db_url=db_url,
        bootstrap=bootstrap,
        topic=topic,
        group=group,
        partitions=partitions,
    )
    cfg = load_config(path)
    create_topics(client_config(cfg), cfg)
    return cfg, path


def prepare_store(cfg: Config, spec: StreamSpec) -> Store:
    store = Store(cfg.database_url)
    store.upgrade()
    model = cfg.models["demo"]
    rows = rows_of(reference_rows(spec, 20_000))
    rows["region"] = [REGIONS[i % 7] for i in range(20_000)]
    store.save_reference(ReferenceProfile.for_model("demo", "*", model, rows))
    return store


class _Id(msgspec.Struct):
    prediction_id: str = ""


_ids = msgspec.json.Decoder(_Id)


def produce(bootstrap: str, topic: str, data: bytes | list[bytes]) -> int:
    """Produce JSON lines keyed by prediction id (invalid lines keyed by None)."""
    lines = data.splitlines() if isinstance(data, bytes) else data
    producer = Producer(
        {"bootstrap.servers": bootstrap, "linger.ms": 20, "batch.num.messages": 10000}
    )
    for i, line in enumerate(lines):
        try:
            key = _ids.decode(line).prediction_id.encode()
        except msgspec.MsgspecError:
            key = None
        while True:
            try:
                producer.produce(topic, value=line, key=key)
                break
            except BufferError:
                producer.poll(0.05)
        if i % 10000 == 0:
            producer.poll(0)
    assert producer.flush(60) == 0
    return len(lines)


def expected_windows(tmp: Path, cfg_path: Path, spec: StreamSpec, data: bytes) -> dict:
    """The windows an uninterrupted replay of the same events gives."""
    cfg = load_config(cfg_path)
    cfg = cfg.model_copy(update={"database_url": f"sqlite:///{tmp / 'expected.db'}"})
    store = prepare_store(cfg, spec)
    path = tmp / "events.jsonl"
    path.write_bytes(data)
    replay(cfg, store, [path])
    return windows_of(store)


def performance_of(store: Store) -> dict:
    """Performance windows as comparable plain data: (start, version) -> counts and metrics."""
    from monitor.store.performance import PerformanceRepository

    rows = PerformanceRepository(store).windows("demo")
    return {
        (r["window_start"], r["model_version"]): (r["predictions"], r["labeled"], r["metrics"])
        for r in rows
    }


def expected_performance(
    tmp: Path, cfg: Config, spec: StreamSpec, events: bytes, labels: bytes
) -> dict:
    """The performance windows an uninterrupted replay of the same events and labels gives."""
    expected_cfg = cfg.model_copy(update={"database_url": f"sqlite:///{tmp / 'expected.db'}"})
    store = prepare_store(expected_cfg, spec)
    (tmp / "e.jsonl").write_bytes(events)
    (tmp / "l.jsonl").write_bytes(labels)
    replay(expected_cfg, store, [tmp / "e.jsonl"], labels=[tmp / "l.jsonl"])
    return performance_of(store)


def windows_of(store: Store) -> dict:
    return {
        (r["model_version"], r["segment"], r["feature"], r["window_start"], r["window_end"]): (
            r["count"],
            r["missing"],
            r["statistics"],
            r["severity"],
            r["drift"],
        )
        for r in store.windows("demo", segment=None)
    }


class ThreadedService:
    """`KafkaService` in a thread of the test process."""

    def __init__(self, cfg: Config, store: Store) -> None:
        self.service = KafkaService(cfg, store, metrics=Metrics(CollectorRegistry()))
        self.thread = threading.Thread(
            target=self.service.run, kwargs={"install_signals": False}, daemon=True
        )

    def __enter__(self) -> KafkaService:
        self.thread.start()
        return self.service

    def __exit__(self, *exc: object) -> None:
        self.service.stop()
        self.thread.join(30)


class ServiceProcess:
    """`monitor run` as a child process (so it can be killed with SIGKILL), with an ops endpoint
    on a port of its own, so that each process's /metrics can be read."""

    def __init__(self, config_path: Path, log_path: Path) -> None:
        self.config_path = config_path
        self.log_path = log_path
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> ServiceProcess:
        log = self.log_path.open("ab")
        argv = [MONITOR, "--log-level", "DEBUG", "run", "-c", str(self.config_path)]
        argv += ["--no-print-windows", "--metrics-port", str(self.port)]
        self.process = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        log.close()
        return self

    def sample(self, name: str) -> float | None:
        """The sum over label values of the samples called ``name`` on this process's /metrics
        (0 when it has none); None while the endpoint does not answer."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=10) as r:
                text = r.read().decode()
        except OSError:
            return None
        families = text_string_to_metric_families(text)
        return sum(s.value for family in families for s in family.samples if s.name == name)

    def catches(self, sig: signal.Signals) -> bool:
        """Whether the process has a handler for ``sig`` (Linux: the SigCgt mask in /proc)."""
        assert self.process is not None
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        mask = next(line.split()[1] for line in status.splitlines() if line.startswith("SigCgt:"))
        return bool(int(mask, 16) >> (sig - 1) & 1)

    def wait_until_it_catches(self, sig: signal.Signals) -> None:
        """Until ``monitor``'s entry point has taken ``sig`` over (tens of ms after the spawn)."""
        wait_for(lambda: self.catches(sig), 60, f"monitor run to catch {sig.name}", interval=0.001)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> int:
        """Send ``sig`` and return the exit status (SIGKILL after 60 s without an exit)."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                return self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
        return self.process.wait(10)
