"""`monitor run` tells the truth when it cannot do its job: a taken metrics port is one clear
error (exit 1) naming the settings that choose the port, and a stop whose final checkpoint
failed says how much work will be read again instead of "stopped cleanly"."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from prometheus_client import CollectorRegistry, generate_latest
from sqlalchemy import create_engine, text

from monitor.cli import main
from monitor.config import load_config
from monitor.metrics import Metrics
from monitor.service import _quarantined
from tests.conftest import PG_ADMIN_URL
from tests.kafka.kit import (
    MONITOR,
    ServiceProcess,
    prepare_store,
    produce,
    stream,
    wait_for,
    write_config,
)


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A loopback port another process listens on."""
    with socket.create_server(("127.0.0.1", 0)) as holder:
        yield holder.getsockname()[1]


def _config(tmp_path: Path, **metrics: int) -> Path:
    path = tmp_path / "monitor.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "database_url": f"sqlite:///{tmp_path / 'm.db'}",
                "kafka": {
                    "bootstrap_servers": "127.0.0.1:9"
                },  # never reached: the port is checked first
                "metrics": metrics,
                "models": {"m": {"features": {"x": {"kind": "numeric"}}}},
            }
        )
    )
    return path


def test_a_taken_metrics_port_is_one_error_line_and_exit_1(tmp_path, taken_port):
    """Through the installed executable: exit 1 (a runtime failure; 2 is for usage), one
    line naming the address, the reason and both settings, no traceback, nothing started."""
    done = subprocess.run(
        [MONITOR, "run", "-c", str(_config(tmp_path)), "--metrics-port", str(taken_port)],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(
        f"error: cannot serve /metrics, /healthz and /readyz on 127.0.0.1:{taken_port}: "
    )
    assert "Address already in use" in line and "metrics.port" in line and "--metrics-port" in line
    assert not (tmp_path / "m.db").exists()


def test_a_taken_port_from_the_config_names_the_setting_too(tmp_path, taken_port):
    result = CliRunner().invoke(main, ["run", "-c", str(_config(tmp_path, port=taken_port))])
    assert result.exit_code == 1
    assert (
        result.stderr.startswith("error: cannot serve")
        and "metrics.port in the config" in result.stderr
    )


def _readyz(port: int) -> dict:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=10) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as exc:  # 503: the body says why
        return json.loads(exc.read())
    except OSError:
        return {}


@pytest.mark.slow
def test_a_stop_after_a_failed_final_checkpoint_does_not_say_stopped_cleanly(
    tmp_path, bootstrap, topic_factory, group_id, pg_url
):
    """The database stops accepting connections while the service runs: /readyz says it is
    unreachable, and SIGTERM then ends the process with exit 0 (Kafka still holds the work)
    and a last WARNING saying that the work since the last checkpoint will be read again."""
    topic = topic_factory(1)
    path = write_config(
        tmp_path / "monitor.yaml",
        db_url=pg_url,
        bootstrap=bootstrap,
        topic=topic,
        group=group_id,
        partitions=1,
    )
    spec, data = stream(20_000)
    lines = data.splitlines()
    store = prepare_store(load_config(path), spec)
    produce(bootstrap, topic, lines[:10_000])
    service = ServiceProcess(path, tmp_path / "service.log").start()
    name = pg_url.rsplit("/", 1)[1]
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        wait_for(
            lambda: store.load_state(group_id).offsets.get(f"{topic}:0") == 10_000,
            120,
            "the first events checkpointed",
        )
        store.engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
            conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :d"),
                {"d": name},
            )
        produce(bootstrap, topic, lines[10_000:])
        wait_for(
            lambda: _readyz(service.port).get("database", "").startswith("unreachable: "),
            120,
            "/readyz to say the database is unreachable",
        )
        code = service.stop(signal.SIGTERM)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        admin.dispose()
    log = service.log_path.read_text()
    assert code == 0, log[-3000:]
    assert "stopped cleanly" not in log
    last = next(line for line in reversed(log.splitlines()) if "monitor:" in line)
    assert "WARNING monitor: stopped; the last " in last and "were not checkpointed" in last
    assert "read again from Kafka" in last and "database unavailable" in last


def test_quarantined_parts_are_exported_as_a_counter():
    """What ``serve`` registers from the checkpointer's count of quarantined parts."""
    counts: Counter[tuple[str, str]] = Counter()
    metrics = Metrics(CollectorRegistry())
    metrics.register_state(lambda: [_quarantined(counts)])
    counts[("demo", "population")] += 2
    body = generate_latest(metrics.registry).decode()
    assert 'monitor_checkpoint_quarantined_total{model_id="demo",part="population"} 2.0' in body
