"""Fault tests: kill -9, the database going away, a broker restart, scale-out with rebalances.
After each, the persisted windows equal those of one uninterrupted replay: nothing lost,
nothing counted twice."""

from __future__ import annotations

import random
import socket
import threading
import time
from pathlib import Path
from typing import NamedTuple

import pytest
from sqlalchemy import create_engine, text

from monitor.config import Config, load_config
from monitor.kafka.broker import EmbeddedBroker
from monitor.kafka.topics import client_config, create_topics
from monitor.pipeline.kafka import KafkaService
from monitor.store import Store
from tests.kafka.kit import (
    ServiceProcess,
    ThreadedService,
    expected_windows,
    prepare_store,
    produce,
    stream,
    wait_for,
    windows_of,
    write_config,
)
from tests.kafka.moto import MotoServer

pytestmark = pytest.mark.slow

CHECKPOINTS = "monitor_checkpoint_duration_seconds_count"


class _Case(NamedTuple):
    cfg: Config
    path: Path
    lines: list[bytes]
    topic: str
    expected: dict
    store: Store


def _setup(tmp_path, bootstrap, topic_factory, group, db_url, n, partitions=4, **extra) -> _Case:
    """A topic, a config, ``n`` events (not produced yet), the windows one replay of them gives,
    and a store with the reference."""
    topic = topic_factory(partitions)
    path = write_config(
        tmp_path / "monitor.yaml",
        db_url=db_url,
        bootstrap=bootstrap,
        topic=topic,
        group=group,
        partitions=partitions,
        **extra,
    )
    cfg = load_config(path)
    create_topics(client_config(cfg), cfg)
    spec, data = stream(n, drift_at=n // 2)
    expected = expected_windows(tmp_path, path, spec, data)
    return _Case(cfg, path, data.splitlines(), topic, expected, prepare_store(cfg, spec))


def _checkpoints(proc: ServiceProcess) -> float:
    return proc.sample(CHECKPOINTS) or 0


def _sample(service: KafkaService, name: str) -> float:
    """A metric of a service in this process (a `ThreadedService`)."""
    return service.metrics.registry.get_sample_value(name) or 0


def _all_windows(case: _Case) -> bool:
    return len(windows_of(case.store)) >= len(case.expected)


def _owned(proc: ServiceProcess) -> float:
    return proc.sample("monitor_assigned_partitions") or 0


def _consumed(proc: ServiceProcess) -> float:
    return proc.sample("monitor_events_consumed_total") or 0


def _blocked_in_checkpoint(admin, db: str) -> bool:
    waiting = "SELECT count(*) FROM pg_stat_activity WHERE datname = :d AND wait_event_type='Lock'"
    with admin.connect() as conn:
        return bool(conn.execute(text(waiting), {"d": db}).scalar())


def test_kill_9_at_random_moments_changes_nothing(
    tmp_path, bootstrap, topic_factory, group_id, pg_url
):
    case = _setup(
        tmp_path, bootstrap, topic_factory, group_id, pg_url, 200_000, checkpoint_interval="500ms"
    )
    produce(bootstrap, case.topic, case.lines)
    rng = random.Random(7)
    log = tmp_path / "service.log"
    proc = ServiceProcess(case.path, log).start()
    kills, during_checkpoint = 0, 0
    db = pg_url.rsplit("/", 1)[1]
    for i in range(12):
        if i % 4 == 3:
            # Hold a lock the checkpoint transaction needs, wait until the service is blocked
            # inside that transaction (panes and windows already written), then kill it there.
            holder = create_engine(pg_url)
            conn = holder.connect()
            tx = conn.begin()
            conn.execute(text("LOCK TABLE offsets IN EXCLUSIVE MODE"))
            try:
                blocked = lambda: _blocked_in_checkpoint(case.store.engine, db)
                wait_for(blocked, 120, "a checkpoint to block on the lock")
                proc.kill()
                during_checkpoint += 1
            finally:
                tx.rollback()
                conn.close()
                holder.dispose()
        else:
            # A random moment of consumption (however long loading and joining take under load).
            wait_for(lambda p=proc: _owned(p), 120, "the restarted process to own partitions")
            time.sleep(rng.uniform(0.0, 3.0))
            proc.kill()
        kills += 1
        proc = ServiceProcess(case.path, log).start()
    try:
        wait_for(lambda: _all_windows(case), 240, "every window after the last restart")
        # Later checkpoints must not change anything either.
        done = _checkpoints(proc)
        wait_for(lambda: _checkpoints(proc) >= done + 2, 120, "two more checkpoints")
    finally:
        code = proc.stop()
    assert code == 0
    assert kills == 12 and during_checkpoint == 3
    assert windows_of(case.store) == case.expected


class _Proxy:
    """A TCP proxy on loopback in front of PostgreSQL that can be cut and restored."""

    def __init__(self, target_port: int = 5432) -> None:
        self.target = ("127.0.0.1", target_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.up = threading.Event()
        self.up.set()
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            client, _ = self.listener.accept()
            if not self.up.is_set():
                client.close()
                continue
            upstream = socket.create_connection(self.target)
            self.conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.close()
                except OSError:
                    pass

    def cut(self) -> None:
        self.up.clear()
        for s in self.conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.conns.clear()

    def restore(self) -> None:
        self.up.set()


def test_database_outage_pauses_and_resumes(tmp_path, bootstrap, topic_factory, group_id, pg_url):
    proxy = _Proxy()
    proxied = pg_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
    case = _setup(tmp_path, bootstrap, topic_factory, group_id, proxied, 60_000)
    direct = Store(pg_url)
    produce(bootstrap, case.topic, case.lines[:30_000])
    with ThreadedService(case.cfg, Store(proxied)) as service:

        def failures() -> float:
            return _sample(service, "monitor_checkpoint_failures_total")

        wait_for(lambda: len(windows_of(direct)) >= 5, 120, "the first windows")
        proxy.cut()
        produce(bootstrap, case.topic, case.lines[30_000:])
        wait_for(lambda: not service.ready, 60, "the service to report itself unready")
        assert "database" in service.readiness()[1]
        failed = failures()
        wait_for(lambda: failures() >= failed + 3, 60, "three failed checkpoints in the outage")
        proxy.restore()
        wait_for(lambda: service.ready, 120, "the service to be ready again")
        wait_for(lambda: len(windows_of(direct)) >= len(case.expected), 180, "every window")
    assert windows_of(direct) == case.expected


def test_broker_restart_loses_nothing(tmp_path, topic_factory, group_id, sqlite_url):
    with (
        MotoServer() as moto,
        EmbeddedBroker(storage_engine=moto.storage_engine, env=moto.env) as broker,
    ):
        from confluent_kafka.admin import AdminClient, NewTopic

        admin = AdminClient({"bootstrap.servers": broker.bootstrap_servers})
        topic = f"restart-{group_id}"

        def make_topic(partitions: int) -> str:
            for f in admin.create_topics([NewTopic(topic, partitions, 1)]).values():
                f.result(10)
            return topic

        servers = broker.bootstrap_servers
        case = _setup(tmp_path, servers, make_topic, group_id, sqlite_url, 40_000, partitions=2)
        produce(broker.bootstrap_servers, case.topic, case.lines[:20_000])
        with ThreadedService(case.cfg, case.store) as service:
            wait_for(lambda: len(windows_of(case.store)) >= 3, 120, "the first windows")
            broker.kill()
            done = _sample(service, CHECKPOINTS)
            outlived = lambda: _sample(service, CHECKPOINTS) >= done + 2
            wait_for(outlived, 120, "two checkpoints while the broker is down")
            broker.restart()
            produce(broker.bootstrap_servers, case.topic, case.lines[20_000:])
            wait_for(lambda: _all_windows(case), 240, "every window after the restart")
        assert windows_of(case.store) == case.expected


def test_processes_in_one_group_give_the_windows_of_one(
    tmp_path, bootstrap, topic_factory, group_id, sqlite_url
):
    """Scale-out: a second process joins mid-stream; the rest of the stream is held back until
    both own partitions; each consumes part of it; the windows are those of one replay."""
    case = _setup(tmp_path, bootstrap, topic_factory, group_id, sqlite_url, 120_000)
    head, rest = case.lines[:30_000], case.lines[30_000:]
    produce(bootstrap, case.topic, head)
    first = ServiceProcess(case.path, tmp_path / "a.log").start()
    second = ServiceProcess(case.path, tmp_path / "b.log")
    try:
        read = lambda: _owned(first) == 4 and _consumed(first) >= len(head)
        wait_for(read, 120, "the first process to read the first part")
        wait_for(lambda: windows_of(case.store), 120, "the first process to close windows")
        second.start()  # a rebalance mid-stream: open windows change hands through the checkpoint
        shares = lambda: (_owned(first), _owned(second))
        wait_for(lambda: min(shares()) > 0 and sum(shares()) == 4, 180, "both to own partitions")
        before = _consumed(first)
        produce(bootstrap, case.topic, rest)
        wait_for(lambda: _all_windows(case), 240, "every window")
        consumed = _consumed(first) - before, _consumed(second)
    finally:
        codes = first.stop(), second.stop()
    assert codes == (0, 0)
    assert min(consumed) > 0, f"events consumed after the rebalance by each process: {consumed}"
    assert windows_of(case.store) == case.expected
    assert "revoked" in (tmp_path / "a.log").read_text()
