"""examples/quickstart end to end, as its README says to run it: the reference built from the
CSV pandas wrote, `monitor run` on a Tansu broker, the app logging through the SDK, then
`monitor windows` and `monitor report` on what the service persisted."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.config import load_config
from monitor.kafka.broker import EmbeddedBroker, free_port
from tests.helpers import wait_for

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "quickstart"


def test_the_readme_quickstart_config_is_the_example_s_but_its_window(tmp_path: Path):
    readme = (ROOT / "README.md").read_text().split("## Monitor your own model", 1)[1]
    block = readme.split("```yaml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "monitor.yaml").write_text(textwrap.dedent(block))
    shown = load_config(tmp_path / "monitor.yaml").models["churn"]
    example = load_config(EXAMPLE / "monitor.yaml").models["churn"]
    assert shown.window == 3_600_000 and example.window == 10_000
    assert (shown.features, shown.rules, shown.topics) == (
        example.features,
        example.rules,
        example.topics,
    )


@pytest.fixture
def broker() -> Iterator[EmbeddedBroker]:
    """A broker of its own: the example uses the default topic names and consumer group."""
    with EmbeddedBroker() as b:
        yield b


def _env(**extra: str) -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path, "PYTHONUNBUFFERED": "1", **extra}


def _run(cwd: Path, *argv: str, **env: str) -> str:
    done = subprocess.run(
        argv, check=False, cwd=cwd, env=_env(**env), capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, f"{argv} failed ({done.returncode}):\n{done.stdout}{done.stderr}"
    return done.stdout


def _monitor(cwd: Path, *args: str) -> str:
    return _run(cwd, sys.executable, "-m", "monitor", *args)


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as r:
            return r.status == 200
    except OSError:
        return False


@pytest.mark.kafka
@pytest.mark.slow
def test_the_quickstart_from_reference_to_report(tmp_path: Path, broker: EmbeddedBroker):
    work = tmp_path / "quickstart"
    shutil.copytree(EXAMPLE, work, ignore=shutil.ignore_patterns("*.db*", "*.csv", "*.html"))
    python = sys.executable

    # 1-2. the reference: the validation set as pandas writes it, profiled
    _run(work, python, "make_reference.py")
    header = (work / "reference.csv").read_text().splitlines()[0]
    assert header == "tenure_months,monthly_charges,plan,score,prediction,label"
    built = _monitor(
        work, "reference", "build", "-c", "monitor.yaml", "-m", "churn", "reference.csv"
    )
    assert "reference churn * version 1: 5000 rows" in built

    # 3-4. the service, then the app logging through the SDK to the same broker
    port = free_port()
    log = (tmp_path / "run.log").open("wb")
    service = subprocess.Popen(
        [python, "-m", "monitor", "run", "-c", "monitor.yaml"]
        + ["--bootstrap-servers", broker.bootstrap_servers, "--metrics-port", str(port)],
        cwd=work,
        env=_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(lambda: _ready(port), 120, "monitor run to be ready")
        app = _run(
            work,
            python,
            "app.py",
            "--seconds",
            "25",
            "--drift-after",
            "8",
            KAFKA_BOOTSTRAP_SERVERS=broker.bootstrap_servers,
        )
        assert "dropped=0, failed=0" in app, app

        def windows() -> list[dict]:
            out = _monitor(work, "windows", "-c", "monitor.yaml", "-m", "churn", "--format", "json")
            return json.loads(out)

        # a window wholly after the shift: closed by the next events or, at the end, idle_timeout
        wait_for(
            lambda: any(
                w["feature"] == "monthly_charges" and w["severity"] == "critical" for w in windows()
            ),
            180,
            "a closed window where monthly_charges drifted",
        )
    finally:
        service.send_signal(signal.SIGTERM)
        code = service.wait(120)
        log.close()
    run_log = (tmp_path / "run.log").read_text()
    assert code == 0, run_log
    assert "stopped cleanly" in run_log

    # 5. what the service persisted: windows, and the report
    rows = windows()
    before = [w for w in rows if w["feature"] == "monthly_charges" and w["severity"] == "ok"]
    assert before, "no window before the shift was ok"
    assert {w["feature"] for w in rows} >= {"tenure_months", "plan", "prediction", "score"}
    table = _monitor(work, "windows", "-c", "monitor.yaml", "-m", "churn")
    assert "monthly_charges" in table and "critical" in table
    _monitor(work, "report", "-c", "monitor.yaml", "-m", "churn", "--out", "report.html")
    html = (work / "report.html").read_text()
    assert "monthly_charges" in html and "drift" in html
