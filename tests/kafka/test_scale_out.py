"""Scale-out, measured for correctness: four `monitor run` processes of one consumer group over
16 partitions, checkpointing into one PostgreSQL, give the windows of one replay of the same
events, bit for bit. Each process owns a quarter of the partitions and consumes its share; a
window closes once every partition's checkpointed watermark passed it, from the panes of all
four processes (monitor.pipeline.closing), whichever process checkpoints first."""

from __future__ import annotations

import pytest

from tests.kafka.kit import (
    ServiceProcess,
    configured_topic,
    expected_windows,
    prepare_store,
    produce,
    stream,
    wait_for,
    windows_of,
)

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

PARTITIONS = 16
PROCESSES = 4


def test_four_processes_over_sixteen_partitions_give_the_windows_of_one_replay(
    tmp_path, bootstrap, topic_factory, group_id, pg_url
):
    topic = topic_factory(PARTITIONS)
    cfg, path = configured_topic(tmp_path, bootstrap, topic, group_id, pg_url, PARTITIONS)
    spec, data = stream(60_000, drift_at=30_000)
    expected = expected_windows(tmp_path, path, spec, data)
    store = prepare_store(cfg, spec)
    processes = [ServiceProcess(path, tmp_path / f"run-{i}.log").start() for i in range(PROCESSES)]
    try:
        # The stream is produced once the group is settled, so that every process consumes a
        # share of it (a process that joins late would find the partitions read already).
        owned = lambda: [p.sample("monitor_assigned_partitions") or 0 for p in processes]
        settled = lambda: min(owned()) > 0 and sum(owned()) == PARTITIONS
        wait_for(settled, 180, f"{PROCESSES} processes to share {PARTITIONS} partitions")
        produce(bootstrap, topic, data)
        every = lambda: len(windows_of(store)) >= len(expected)
        wait_for(every, 240, "every window to close across the processes")
        consumed = [p.sample("monitor_events_consumed_total") for p in processes]
    finally:
        # One after the other, as in a rolling stop: the others rebalance at each exit.
        codes = [p.stop() for p in processes]
    assert windows_of(store) == expected
    drifted = {k[2] for k, v in expected.items() if v[4]}
    assert "num_01" in drifted and "num_00" not in drifted  # the windows are not trivial
    assert all(c for c in consumed), f"events consumed per process: {consumed}"
    # At least once each (a rebalance under load re-reads from the checkpoint), counted once:
    assert sum(c or 0 for c in consumed) >= len(data.splitlines())
    failed = {i: code for i, code in enumerate(codes) if code != 0}
    tails = {i: p.log_path.read_text()[-600:] for i, p in enumerate(processes) if i in failed}
    assert not failed, f"exit codes {failed}; their logs end with {tails}"
