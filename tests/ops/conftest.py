"""Fixtures of the operations tests: the Kafka fixtures (embedded Tansu broker, random topic and
group per test) and a real Prometheus (Debian's ``prometheus``) on a free loopback port."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.kafka.broker import free_port
from tests.helpers import wait_for
from tests.kafka.conftest import admin, bootstrap, broker, group_id, topic_factory, topic_name  # noqa: F401 (fixtures)

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = ROOT / "dashboards"
RULES = DASHBOARDS / "prometheus" / "rules.yml"


#: The Debian package of each tool the operations tests run, when its name differs.
PACKAGES = {"promtool": "prometheus", "amtool": "prometheus-alertmanager"}


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.fail(
            f"{tool} is not installed: apt-get install {PACKAGES.get(tool, tool)} "
            "(.ci/services.sh does)"
        )
    return path


class Prometheus:
    """A running Prometheus and its HTTP API."""

    def __init__(self, url: str, process: subprocess.Popen[bytes], log: Path) -> None:
        self.url = url
        self.process = process
        self.log = log

    def api(self, path: str, **params: str) -> dict[str, Any]:
        query = urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(f"{self.url}/api/v1/{path}?{query}", timeout=10) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as exc:  # 400 on a bad expression: the body says why
            return json.loads(exc.read())

    def query(self, expr: str) -> dict[str, Any]:
        return self.api("query", query=expr)


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[Callable[[list[str]], Prometheus]]:
    """``start(targets, job="monitor")``: Prometheus scraping ``targets`` every second as
    ``job``, with the shipped alert rules loaded; stopped after the test."""
    binary = need("prometheus")
    started: list[Prometheus] = []

    def start(targets: list[str], job: str = "monitor") -> Prometheus:
        port = free_port()
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(RULES)],
            "scrape_configs": [{"job_name": job, "static_configs": [{"targets": targets}]}],
        }
        path = tmp_path / "prometheus.yml"
        path.write_text(yaml.safe_dump(config))
        log = tmp_path / "prometheus.log"
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={path}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ],
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        prom = Prometheus(f"http://127.0.0.1:{port}", process, log)
        started.append(prom)

        def ready() -> bool:
            if process.poll() is not None:
                pytest.fail(f"prometheus exited: {log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{prom.url}/-/ready", timeout=5) as resp:
                    return resp.status == 200
            except OSError:
                return False

        wait_for(ready, 60, "prometheus to be ready", interval=0.1)
        return prom

    yield start
    for prom in started:
        prom.process.terminate()
        try:
            prom.process.wait(10)
        except subprocess.TimeoutExpired:
            prom.process.kill()
