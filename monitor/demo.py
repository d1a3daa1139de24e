"""The embedded demo, on embedded defaults (SQLite, and the Tansu broker for the live one).

Live (default): the embedded broker, ``monitor run`` in a thread, and a generator producing
predictions and delayed labels through the SDK in event time = now, with drift injected into
three features after 30 seconds, and into a fourth in one segment only (``region=us``, too
diluted to show in the whole population); the terminal shows windows closing and the drift
caught.
Replay (``--replay``): the same kind of stream written to a file and replayed, in seconds.

Both go the way a user would: a reference file, ``reference build``, then the stream.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace
from importlib import resources
from pathlib import Path

import click

from monitor.config import load_config
from monitor.engine import ClosedWindow
from monitor.format import iso, performance_line, window_lines
from monitor.pipeline.files import replay
from monitor.reference import ReferenceProfile, read_reference_rows
from monitor.store import Store
from monitor.store.performance import PerformanceRepository
from monitor.synth import (
    DriftSpec,
    StreamSpec,
    default_features,
    generate,
    reference_rows,
    to_jsonl,
)

__all__ = ["DEMO_DRIFT", "demo_spec", "run_demo", "run_live_demo"]

#: Drift injected from 60% of the stream on: two numeric mean shifts and a new category.
DEMO_DRIFT = (("num_03", 0.5), ("num_07", 1.0), ("cat10", 0.3))
#: ... and a mean shift in one segment only (a third of the events).
DEMO_SEGMENT_DRIFT = ("num_12", 0.5, "region=us")
DEMO_SEGMENTS = (("region", ("eu", "us", "apac")),)


def _drift(start: int) -> tuple[DriftSpec, ...]:
    feature, shift, segment = DEMO_SEGMENT_DRIFT
    return (
        *(DriftSpec(f, s, start) for f, s in DEMO_DRIFT),
        DriftSpec(feature, shift, start, segment),
    )


def demo_spec(events: int) -> StreamSpec:
    return StreamSpec(
        features=default_features(),
        model_id="demo",
        interval_ms=100,
        drift=_drift(int(events * 0.6)),
        seed=7,
        segments=DEMO_SEGMENTS,
    )


def _injected() -> str:
    feature, shift, segment = DEMO_SEGMENT_DRIFT
    return (
        ", ".join(f"{f} ({s:g})" for f, s in DEMO_DRIFT)
        + f", and {feature} ({shift:g}) in {segment} only"
    )


def _write_reference(path: Path, spec: StreamSpec, rows: int) -> None:
    cols = reference_rows(spec, rows)
    with path.open("wb") as fh:
        fh.write(to_jsonl(spec, cols))


def _config(workdir: Path, template: str) -> Path:
    workdir.mkdir(parents=True, exist_ok=True)
    config_path = workdir / "monitor.yaml"
    text = resources.files("monitor.defaults").joinpath(template).read_text()
    db = workdir / "demo.db"
    for leftover in (db, db.with_name("demo.db-wal"), db.with_name("demo.db-shm")):
        leftover.unlink(missing_ok=True)
    config_path.write_text(text.replace("sqlite:///demo.db", f"sqlite:///{db.resolve()}"))
    return config_path


def _caught(windows: list[ClosedWindow]) -> None:
    caught = sorted(
        {
            c.feature
            for w in windows
            for c in w.columns
            if c.drift and c.feature not in ("score", "prediction")
        }
    )
    expected = sorted(f for f, _ in DEMO_DRIFT)
    click.echo(
        f"\ndrifted features caught: {', '.join(caught) or 'none'} (injected: "
        f"{', '.join(expected)})"
    )
    feature, _, segment = DEMO_SEGMENT_DRIFT
    where = sorted(
        {
            s.segment
            for w in windows
            for s in w.segments
            for c in s.columns
            if c.drift and c.feature == feature
        }
    )
    click.echo(
        f"{feature} drift caught in segment(s): {', '.join(where) or 'none'} (injected: "
        f"{segment} only)"
    )


def run_live_demo(workdir: Path, seconds: float = 60.0, rate: float = 500.0) -> None:
    """The live demo; Ctrl-C stops it cleanly."""
    from monitor.client import MonitorClient
    from monitor.generate import run_generator
    from monitor.kafka.broker import EmbeddedBroker
    from monitor.kafka.topics import client_config, create_topics
    from monitor.pipeline.kafka import KafkaService

    config_path = _config(workdir, "demo-live.yaml")
    cfg = load_config(config_path)
    drift_after = min(30.0, seconds / 2)
    store = Store(cfg.database_url)
    store.upgrade()
    reference_file = workdir / "reference.jsonl"
    _write_reference(reference_file, demo_spec(0), 50_000)
    model = cfg.models["demo"]
    store.save_reference(
        ReferenceProfile.for_model(
            "demo", "*", model, read_reference_rows(reference_file), source=str(reference_file)
        )
    )
    windows: list[ClosedWindow] = []
    labeled = _Performance(store)

    def collect(closed: list[ClosedWindow]) -> None:
        windows.extend(closed)
        for w in closed:
            for line in window_lines(w):
                click.echo(line)
        labeled.show(complete=True)

    # The terminal shows each window once (above), not also the service's log of it, nor
    # partition assignments.
    for name in ("monitor.kafka", "monitor.pipeline.kafka"):  # the broker, the consumer loop
        logging.getLogger(name).setLevel(logging.WARNING)
    with EmbeddedBroker() as broker:
        servers = broker.bootstrap_servers
        click.echo(
            f"started the embedded Tansu broker on {servers}; config {config_path}; "
            f"database {cfg.database_url}"
        )
        create_topics(client_config(cfg, **{"bootstrap.servers": servers}), cfg)
        service = KafkaService(cfg, store, bootstrap_servers=servers, on_windows=collect)
        consumer = threading.Thread(
            target=service.run, kwargs={"install_signals": False}, daemon=True
        )
        consumer.start()
        stopping = threading.Event()
        click.echo(
            f"producing {rate:g} predictions/s for {seconds:g} s (labels 5 s later); drift "
            f"into {_injected()} after {drift_after:g} s\n"
        )
        spec = replace(
            demo_spec(0),
            start_ms=int(time.time() * 1000),
            interval_ms=max(1, round(1000 / rate)),
            drift=_drift(int(drift_after * rate)),
        )
        try:
            with MonitorClient(servers, model_id="demo", model_version="v1") as client:
                run_generator(
                    client,
                    spec,
                    rate,
                    events=int(seconds * rate),
                    label_delay_s=5.0,
                    stop=stopping.is_set,
                )
            # Let the last window close (idle partitions advance by wall clock).
            last_event_ms = int(time.time() * 1000)
            deadline = time.time() + 30
            while time.time() < deadline and not any(w.end_ms >= last_event_ms for w in windows):
                time.sleep(0.5)
        except KeyboardInterrupt:
            stopping.set()
            click.echo("\nstopping...")
        finally:
            service.stop()
            consumer.join(30)
    labeled.show(complete=False)
    _caught(windows)
    click.echo(f"inspect: monitor windows --config {config_path} --model demo --feature num_07")


class _Performance:
    """Prints each performance window once, when its labels are in."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.shown: set[tuple[str, int]] = set()

    def show(self, *, complete: bool) -> None:
        """The windows not shown yet: with ``complete``, only those whose every prediction has
        its label (or that are final); else every one with a label."""
        for row in PerformanceRepository(self.store).windows("demo"):
            key = (row["model_version"], row["window_start"])
            done = row["final"] or row["labeled"] >= row["predictions"]
            if key in self.shown or not row["labeled"] or (complete and not done):
                continue
            self.shown.add(key)
            click.echo(performance_line(row))


#: Rows of the replay demo's reference file: enough for 10 bins per feature and the
#: segments' own references; building it is most of the replay demo's time.
REPLAY_REFERENCE_ROWS = 20_000


def run_demo(workdir: Path, events: int = 60_000) -> None:
    """The replay demo, in ``workdir/replay`` (the live demo's database stays as it is)."""
    workdir = workdir / "replay"
    config_path = _config(workdir, "demo.yaml")
    cfg = load_config(config_path)
    spec = demo_spec(events)
    drift_at = spec.start_ms + spec.drift[0].start * spec.interval_ms
    click.echo(f"config: {config_path} (database {cfg.database_url})")
    click.echo(f"drift injected at {iso(drift_at)} into {_injected()}")

    reference_file = workdir / "reference.jsonl"
    events_file = workdir / "predictions.jsonl"
    _write_reference(reference_file, spec, REPLAY_REFERENCE_ROWS)
    with events_file.open("wb") as fh:
        for offset in range(0, events, 50_000):
            fh.write(to_jsonl(spec, generate(spec, min(50_000, events - offset), offset)))
    click.echo(
        f"wrote {reference_file} ({REPLAY_REFERENCE_ROWS:,} rows) and {events_file} "
        f"({events:,} events)"
    )

    store = Store(cfg.database_url)
    store.upgrade()
    model = cfg.models["demo"]
    profile = ReferenceProfile.for_model(
        "demo", "*", model, read_reference_rows(reference_file), source=str(reference_file)
    )
    saved = store.save_reference(profile)
    click.echo(f"built reference version {saved.version} from {reference_file}")

    report = replay(cfg, store, [events_file])
    click.echo(
        f"replayed {report.events:,} events in {report.seconds:.2f} s ({report.rate:,.0f} "
        f"events/s); {len(report.windows)} windows closed\n"
    )
    for w in report.windows:
        for line in window_lines(w):
            click.echo(line)
    _caught(report.windows)
    click.echo(f"inspect: monitor windows --config {config_path} --model demo --feature num_07")
