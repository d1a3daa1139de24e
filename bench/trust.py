"""Hostile clocks cost only themselves: 1,000,000 good events with 1% of events carrying
out-of-range timestamps (year 2100, microseconds taken for milliseconds, year 9999) interleaved,
through ``monitor replay`` and through ``monitor run`` (Kafka, the embedded Tansu broker), each as
a user runs it (the CLI in its own process).

Before event-time bounds, the first such event moved its partition's watermark and every later
good event of the partition was dropped as late. The figures: good events in the closed windows
(every one expected), dead letters (``timestamp_out_of_range``) and late drops (none expected).
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import msgspec
import yaml

from bench.kafka import PARTITIONS, _config, _events, _produce

HOSTILE = (4_102_444_800_000, 1_767_225_600_000_000, 253_402_300_799_000)  # 2100, µs, 9999
MONITOR = str(Path(sys.executable).with_name("monitor"))


def _mixed(n: int) -> tuple[Any, list[bytes], int]:
    """``n`` good events and one hostile event after every 100th good one."""
    spec, lines = _events(n)
    out: list[bytes] = []
    bad = 0
    for i, line in enumerate(lines):
        out.append(line)
        if i % 100 == 99:
            event = msgspec.json.decode(line)
            event["prediction_id"] = f"hostile-{bad}"
            event["timestamp"] = HOSTILE[bad % len(HOSTILE)]
            out.append(msgspec.json.encode(event))
            bad += 1
    return spec, out, bad


def _window_events(db: Path) -> int:
    try:
        with sqlite3.connect(db) as conn:
            row = conn.execute(
                "SELECT COALESCE(SUM(events), 0) FROM window_summaries WHERE segment = ''"
            ).fetchone()
    except sqlite3.Error:
        return 0
    return int(row[0])


def _sample(text: str, name: str, **labels: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    return sum(
        s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    )


def _store_with_reference(path: Path, spec: Any) -> None:
    from monitor.config import load_config
    from monitor.layout import Layout
    from monitor.reference import ReferenceProfile
    from monitor.store import Store
    from monitor.synth import reference_rows
    from tests.helpers import rows_of

    cfg = load_config(path)
    store = Store(cfg.database_url)
    store.upgrade()
    model = cfg.models["demo"]
    rows = rows_of(reference_rows(spec, 100_000))
    store.save_reference(
        ReferenceProfile.build(
            "demo", "*", Layout.from_model(model), rows, model.reference.fine_bins
        )
    )
    store.engine.dispose()


def _replay(tmp: Path, spec: Any, lines: list[bytes], n: int) -> dict[str, Any]:
    events = tmp / "events.jsonl"
    events.write_bytes(b"\n".join(lines) + b"\n")
    path = _config(
        tmp / "replay.yaml", "127.0.0.1:9", "replay", "json", f"sqlite:///{tmp / 'replay.db'}"
    )
    _store_with_reference(path, spec)
    letters = tmp / "dead.jsonl"
    started = time.monotonic()
    out = subprocess.run(
        [
            MONITOR,
            "replay",
            "-c",
            str(path),
            "--no-progress",
            "--dead-letters",
            str(letters),
            str(events),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    seconds = time.monotonic() - started
    reasons = [msgspec.json.decode(line)["reason"] for line in letters.read_bytes().splitlines()]
    return {
        "good_in_windows": _window_events(tmp / "replay.db"),
        "good_events": n,
        "dead_letters": len(reasons),
        "out_of_range": reasons.count("timestamp_out_of_range"),
        "late": _late_line(out.stdout),
        "seconds": seconds,
        "summary": out.stdout.strip().splitlines()[0],
    }


def _late_line(stdout: str) -> int:
    """The late drops ``monitor replay`` reports (a ``late: model=N, ...`` line when any)."""
    line = next((x for x in stdout.splitlines() if x.startswith("late:")), "late:")
    return sum(int(part.split("=")[1]) for part in line[5:].split(",") if "=" in part)


def _kafka(tmp: Path, spec: Any, lines: list[bytes], n: int, bootstrap: str) -> dict[str, Any]:
    from confluent_kafka.admin import AdminClient, NewTopic

    topic = f"trust-{os.getpid()}-{time.time_ns() % 10**6}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for f in admin.create_topics(
        [NewTopic(topic, PARTITIONS, 1), NewTopic(f"{topic}-dlq", 1, 1)]
    ).values():
        f.result(10)
    keys = [msgspec.json.decode(line, type=dict)["prediction_id"].encode() for line in lines]
    _produce(bootstrap, topic, lines, keys)
    db = tmp / "kafka.db"
    path = _config(tmp / "kafka.yaml", bootstrap, topic, "json", f"sqlite:///{db}")
    cfg = yaml.safe_load(path.read_text())
    cfg["idle_timeout"] = "2s"  # the last window closes once every partition is caught up
    path.write_text(yaml.safe_dump(cfg))
    _store_with_reference(path, spec)
    from monitor.kafka.broker import free_port

    port = free_port()
    log = (tmp / "run.log").open("wb")
    proc = subprocess.Popen(
        [MONITOR, "run", "-c", str(path), "--no-print-windows", "--metrics-port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline and _window_events(db) < n and proc.poll() is None:
        time.sleep(1.0)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as r:
        text = r.read().decode()
    proc.send_signal(signal.SIGTERM)
    proc.wait(120)
    log.close()
    return {
        "good_in_windows": _window_events(db),
        "good_events": n,
        "dead_letters": int(_sample(text, "monitor_dead_letters_total")),
        "out_of_range": int(
            _sample(text, "monitor_events_invalid_total", reason="timestamp_out_of_range")
        ),
        "late": int(_sample(text, "monitor_events_late_total")),
        "exit": proc.returncode,
    }


def run(smoke: bool = False) -> dict[str, Any]:
    from monitor.kafka.broker import EmbeddedBroker

    n = 20_000 if smoke else 1_000_000
    spec, lines, bad = _mixed(n)
    results: dict[str, Any] = {"good_events": n, "hostile_events": bad}
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        results["replay"] = _replay(tmp, spec, lines, n)
        with EmbeddedBroker() as broker:
            results["kafka"] = _kafka(tmp, spec, lines, n, broker.bootstrap_servers)
    return results


def render(r: dict[str, Any]) -> str:
    lines = [
        (
            "| feeder | good events | good events in closed windows | lost | dead letters "
            "(timestamp_out_of_range) | late drops |"
        ),
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, label in (
        ("replay", "`monitor replay` (one file)"),
        ("kafka", f"`monitor run` ({PARTITIONS} partitions)"),
    ):
        x = r[name]
        lines.append(
            f"| {label} | {x['good_events']:,} | {x['good_in_windows']:,} | "
            f"{x['good_events'] - x['good_in_windows']:,} | "
            f"{x['out_of_range']:,} of {r['hostile_events']:,} | {x['late']:,} |"
        )
    lines.append(
        "\nOne hostile event after every 100th good one (timestamps "
        f"{', '.join(map(str, HOSTILE))})."
    )
    return "\n".join(lines)
