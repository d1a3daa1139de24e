"""The embedded demo: a generated stream with drift injected into three features, replayed
through the engine with the embedded config and SQLite, and the windows that caught it.

It goes the way a user would: write a reference file and an events file, build the reference
from the file, replay the events, read the windows back from the database.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import click

from monitor.config import load_config
from monitor.format import iso
from monitor.layout import Layout
from monitor.reference import ReferenceProfile, read_reference_rows
from monitor.replay import replay
from monitor.store import Store
from monitor.synth import DriftSpec, StreamSpec, default_features, generate, reference_rows, to_jsonl

__all__ = ["run_demo", "demo_spec", "DEMO_DRIFT"]

#: Drift injected from 60% of the stream on: two numeric mean shifts and a new category.
DEMO_DRIFT = (("num_03", 0.5), ("num_07", 1.0), ("cat10", 0.3))


def demo_spec(events: int) -> StreamSpec:
    start = int(events * 0.6)
    return StreamSpec(
        features=default_features(),
        model_id="demo",
        interval_ms=100,
        drift=tuple(DriftSpec(f, shift, start) for f, shift in DEMO_DRIFT),
        seed=7,
    )


def _write_reference(path: Path, spec: StreamSpec, rows: int) -> None:
    cols = reference_rows(spec, rows)
    with path.open("wb") as fh:
        fh.write(to_jsonl(spec, cols))


def run_demo(workdir: Path, events: int = 200_000) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    config_path = workdir / "monitor.yaml"
    text = resources.files("monitor.defaults").joinpath("demo.yaml").read_text()
    config_path.write_text(text.replace("sqlite:///demo.db", f"sqlite:///{(workdir / 'demo.db').resolve()}"))
    cfg = load_config(config_path)
    spec = demo_spec(events)
    drift_at = spec.start_ms + spec.drift[0].start * spec.interval_ms
    click.echo(f"config: {config_path} (database {cfg.database_url})")
    click.echo(f"drift injected at {iso(drift_at)} into " + ", ".join(f"{f} ({s:g})" for f, s in DEMO_DRIFT))

    reference_file = workdir / "reference.jsonl"
    events_file = workdir / "predictions.jsonl"
    _write_reference(reference_file, spec, 100_000)
    with events_file.open("wb") as fh:
        for offset in range(0, events, 50_000):
            fh.write(to_jsonl(spec, generate(spec, min(50_000, events - offset), offset)))
    click.echo(f"wrote {reference_file} (100,000 rows) and {events_file} ({events:,} events)")

    store = Store(cfg.database_url)
    store.upgrade()
    model = cfg.models["demo"]
    profile = ReferenceProfile.build("demo", "*", Layout.from_model(model), read_reference_rows(reference_file), model.reference.fine_bins, source=str(reference_file))
    saved = store.save_reference(profile)
    click.echo(f"built reference version {saved.version} from {reference_file}")

    report = replay(cfg, store, [events_file])
    click.echo(f"replayed {report.events:,} events in {report.seconds:.2f} s ({report.rate:,.0f} events/s); {len(report.windows)} windows closed\n")
    for w in report.windows:
        drifted = [c for c in w.columns if c.drift]
        marks = ", ".join(f"{c.feature} {c.severity} psi={c.statistics.get('psi') or 0:.3f}" for c in drifted)
        click.echo(f"{iso(w.start_ms)}  events={w.dataset.events:>6}  {'DRIFT: ' + marks if drifted else 'ok'}")
    caught = sorted({c.feature for w in report.windows for c in w.columns if c.drift and c.feature not in ("score", "prediction")})
    expected = sorted(f for f, _ in DEMO_DRIFT)
    click.echo(f"\ndrifted features caught: {', '.join(caught) or 'none'} (injected: {', '.join(expected)})")
    click.echo(f"inspect: monitor windows --config {config_path} --model demo --feature num_07")
