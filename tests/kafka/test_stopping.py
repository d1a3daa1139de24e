"""`monitor run` stopped at each phase exits as docs/operations.md ("Exit codes of monitor run")
says: 0, with a last line naming the phase it was stopped in."""

from __future__ import annotations

import signal

import pytest

from tests.kafka.kit import ServiceProcess, wait_for, write_config

SIGNALS = [signal.SIGTERM, signal.SIGINT]


@pytest.fixture
def process(tmp_path, bootstrap, topic_factory, group_id, sqlite_url) -> ServiceProcess:
    path = write_config(
        tmp_path / "monitor.yaml",
        db_url=sqlite_url,
        bootstrap=bootstrap,
        topic=topic_factory(4),
        group=group_id,
    )
    return ServiceProcess(path, tmp_path / "service.log")


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_stopped_while_it_loads_it_exits_0(process: ServiceProcess, sig: signal.Signals):
    """Stopped right after the spawn: as soon as the entry point has taken the signals over
    (tens of ms), while the command line's modules still load (over a second)."""
    process.start()
    process.wait_until_it_catches(signal.SIGTERM)
    code = process.stop(sig)
    log = process.log_path.read_text()
    assert (code, log.strip().splitlines()[-1:]) == (0, [f"stopped during start-up ({sig.name})"])


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_stopped_while_it_consumes_it_exits_0(process: ServiceProcess, sig: signal.Signals):
    process.start()
    wait_for(lambda: process.sample("monitor_assigned_partitions"), 120, "partitions assigned")
    code = process.stop(sig)
    log = process.log_path.read_text()
    assert code == 0
    assert "stopped cleanly" in log.strip().splitlines()[-1] and "start-up" not in log
