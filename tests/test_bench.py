"""A smoke run of the benchmark code (``make bench`` on tiny data), so that it cannot rot.

Checks that every suite runs and reports; it asserts nothing about speed (figures on tiny data
mean nothing). The peers themselves need their own virtualenvs (bench/peers/setup.sh, about
5 GB), so here `monitor`'s side of the peer comparison runs on the peers' smoke data set and the
comparison table renders from it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def run(*args: str) -> str:
    proc = subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=600, check=False
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_pipeline_labels_and_kafka_suites_run_on_smoke_data() -> None:
    out = run("-m", "bench", "--smoke", "--only", "pipeline", "labels", "kafka")
    for row in (
        "**yardstick: msgspec typed",
        "**replay() in process**, PostgreSQL",
        "**`monitor replay`, whole process** (wall clock, start-up included), SQLite",
        "segment keys",
        "PostgreSQL: 20,000 predictions then their labels",
        "**JSON yardstick: msgspec typed",
        "**monitor run**, JSON, 2 processes",
        "**monitor run**, JSON, 1 process, PostgreSQL",
        "Avro (raw binary)",
    ):
        assert row in out, row


def test_sdk_and_trust_suites_run_on_smoke_data() -> None:
    out = run("-m", "bench", "--smoke", "--only", "sdk", "trust")
    for row in (
        "`monitor replay` (one file) | 20,000 | 20,000 | 0 | 200 of 200 | 0 |",
        "`monitor run` (4 partitions) | 20,000 | 20,000 | 0 | 200 of 200 | 0 |",
    ):
        assert row in out, row


def test_monitor_side_of_the_peer_comparison_runs_on_the_peers_smoke_data(tmp_path: Path) -> None:
    from bench import compare

    run("bench/peers/data.py", "--smoke")
    results = {}
    for mode in ("compute", "e2e"):
        path = tmp_path / f"monitor-{mode}.json"
        run("-m", "bench.ours", "--mode", mode, "--smoke", "--out", str(path))
        results[f"monitor-{mode}"] = r = json.loads(path.read_text())
        assert r["events"] > 0 and r["events_per_s"] > 0 and r["windows_measured"]
        assert r["agreement"]["false_negatives"] == 0, r["agreement"]  # the injected drift is found
    path = tmp_path / "monitor-performance.json"
    run("-m", "bench.ours", "--mode", "performance", "--smoke", "--out", str(path))
    perf = json.loads(path.read_text())
    assert perf["labels"] > 0 and all(
        w["realized"]["accuracy"] is not None and w["estimated"]["accuracy"] is not None
        for w in perf["windows"]
    )
    table = compare.render({"results": results})
    assert "| monitor |" in table and "compute only" in table and "end to end" in table


def test_startup_suite_runs_on_smoke_data() -> None:
    out = run("-m", "bench", "--smoke", "--only", "startup")
    for row in ("`python -m monitor --help`", "`python -m monitor windows`", "(yardstick)"):
        assert row in out, row


@pytest.mark.postgres
def test_scale_suite_runs_on_smoke_data() -> None:
    out = run("-m", "bench", "--smoke", "--only", "scale")
    rows = [line for line in out.splitlines() if line.startswith(("| 1 |", "| 2 |"))]
    assert len(rows) == 2, out
    for row in rows:
        assert "none closed" not in row, f"no window closed across processes: {row}"
