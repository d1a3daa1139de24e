"""Start-up time of the command line: whole processes, as a person at a terminal waits for them.

Medians of 5 runs each of ``python -m monitor --help`` and of ``python -m monitor windows`` on a
small SQLite database (one model, 4 features, 5 closed windows), against the yardstick
``python -c "import click"``: the least a click command line costs. Targets (issues 14, 15):
``--help`` within 4 times the yardstick, ``windows`` within 8 times.
"""

from __future__ import annotations

import csv
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from monitor.synth import FeatureSpec, StreamSpec, generate, reference_rows, to_jsonl

RUNS = 5
SPEC = StreamSpec(
    features=(
        FeatureSpec("num_00", "numeric"),
        FeatureSpec("num_01", "numeric"),
        FeatureSpec("num_02", "numeric"),
        FeatureSpec("color", "categorical", levels=5),
    ),
    model_id="m",
    model_version="v1",
    interval_ms=20,
    seed=3,
)
CONFIG = """\
database_url: sqlite:///{db}
models:
  m:
    window: 2m
    reference: {{baseline_events: 0}}
    features:
      num_00: {{kind: numeric}}
      num_01: {{kind: numeric}}
      num_02: {{kind: numeric}}
      color: {{kind: categorical}}
"""


def _monitor(*args: str) -> list[str]:
    return [sys.executable, "-m", "monitor", *args]


def _database(workdir: Path) -> Path:
    """A config whose SQLite database holds a reference and 5 closed windows."""
    config = workdir / "monitor.yaml"
    config.write_text(CONFIG.format(db=workdir / "monitor.db"))
    ref = reference_rows(SPEC, 2000)
    reference = workdir / "reference.csv"
    with reference.open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow([*ref.numeric_names, *ref.categorical_names, "score", "prediction"])
        for i in range(len(ref)):
            out.writerow(
                [
                    *(repr(float(v)) for v in ref.numeric[i]),
                    *(c[i] for c in ref.categorical),
                    repr(float(ref.score[i])),
                    int(ref.prediction[i]),
                ]
            )
    events = workdir / "events.jsonl"
    events.write_bytes(to_jsonl(SPEC, generate(SPEC, 30_000)))
    for args in (
        ("reference", "build", "-c", str(config), "-m", "m", str(reference)),
        ("replay", "-c", str(config), "--no-progress", str(events)),
    ):
        subprocess.run(_monitor(*args), check=True, capture_output=True, timeout=600)
    return config


def _median_seconds(command: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, timeout=120)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def run(smoke: bool = False) -> dict[str, Any]:
    runs = 1 if smoke else RUNS
    with tempfile.TemporaryDirectory() as tmp:
        config = _database(Path(tmp))
        commands = {
            "import click": [sys.executable, "-c", "import click"],
            "monitor --help": _monitor("--help"),
            "monitor windows": _monitor("windows", "-c", str(config), "-m", "m"),
        }
        seconds = {name: _median_seconds(cmd, runs) for name, cmd in commands.items()}
    yardstick = seconds["import click"]
    return {
        "runs": runs,
        "seconds": seconds,
        "ratios": {name: s / yardstick for name, s in seconds.items()},
        "targets": {"monitor --help": 4.0, "monitor windows": 8.0},
    }


def render(r: dict[str, Any]) -> str:
    lines = [
        (
            f"| Start-up, whole process (median of {r['runs']}) | seconds | x `import click` "
            "| target |"
        ),
        "|---|---:|---:|---:|",
    ]
    for name, seconds in r["seconds"].items():
        target = r["targets"].get(name)
        shown = (
            "`python -c 'import click'` (yardstick)" if target is None else f"`python -m {name}`"
        )
        lines.append(
            f"| {shown} | {seconds:.3f} | {r['ratios'][name]:.1f} | "
            f"{f'<= {target:g}' if target else '-'} |"
        )
    return "\n".join(lines)
