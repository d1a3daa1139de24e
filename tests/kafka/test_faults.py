"""Fault tests: kill -9, the database going away, a broker restart, scale-out with rebalances.
After each, the persisted windows equal those of one uninterrupted replay: nothing lost,
nothing counted twice."""

from __future__ import annotations

import random
import socket
import threading
import time

import pytest
from sqlalchemy import create_engine, text

from monitor.config import load_config
from monitor.kafka.broker import EmbeddedBroker
from monitor.kafka.topics import client_config, create_topics
from monitor.store import Store
from tests.kafka.kit import ServiceProcess, ThreadedService, expected_windows, prepare_store, produce, stream, wait_for, windows_of, write_config
from tests.kafka.moto import MotoServer

pytestmark = pytest.mark.slow


def _setup(tmp_path, bootstrap, topic_factory, group, db_url, n, partitions=4, **extra):
    topic = topic_factory(partitions)
    path = write_config(tmp_path / "monitor.yaml", db_url=db_url, bootstrap=bootstrap, topic=topic, group=group, partitions=partitions, **extra)
    cfg = load_config(path)
    create_topics(client_config(cfg), cfg)
    spec, data = stream(n, drift_at=n // 2)
    expected = expected_windows(tmp_path, path, spec, data)
    store = prepare_store(cfg, spec)
    return cfg, path, spec, data, topic, expected, store


def _blocked_in_checkpoint(admin, db: str) -> bool:
    with admin.connect() as conn:
        return bool(conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE datname = :d AND wait_event_type = 'Lock'"), {"d": db}).scalar())


def test_kill_9_at_random_moments_changes_nothing(tmp_path, bootstrap, topic_factory, group_id, pg_url):
    cfg, path, spec, data, topic, expected, store = _setup(tmp_path, bootstrap, topic_factory, group_id, pg_url, 200_000, checkpoint_interval="500ms")
    produce(bootstrap, topic, data)
    rng = random.Random(7)
    log = tmp_path / "service.log"
    proc = ServiceProcess(path, log).start()
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
                wait_for(lambda: _blocked_in_checkpoint(store.engine, db), 60, "a checkpoint to block on the lock")
                proc.kill()
                during_checkpoint += 1
            finally:
                tx.rollback()
                conn.close()
                holder.dispose()
        else:
            time.sleep(rng.uniform(1.0, 6.0))
            proc.kill()
        kills += 1
        proc = ServiceProcess(path, log).start()
    try:
        wait_for(lambda: len(windows_of(store)) >= len(expected), 240, "every window after the last restart")
        time.sleep(2)  # a last checkpoint must not change anything either
    finally:
        proc.stop()
    assert kills >= 10 and during_checkpoint >= 3
    assert windows_of(store) == expected


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
    cfg, path, spec, data, topic, expected, _ = _setup(tmp_path, bootstrap, topic_factory, group_id, proxied, 60_000)
    direct = Store(pg_url)
    lines = data.splitlines()
    produce(bootstrap, topic, lines[:30_000])
    with ThreadedService(cfg, Store(proxied)) as service:
        wait_for(lambda: len(windows_of(direct)) >= 5, 60, "the first windows")
        proxy.cut()
        produce(bootstrap, topic, lines[30_000:])
        wait_for(lambda: not service.ready, 30, "the service to report itself unready")
        assert "database" in service.readiness()[1]
        time.sleep(5)
        proxy.restore()
        wait_for(lambda: service.ready, 60, "the service to be ready again")
        wait_for(lambda: len(windows_of(direct)) >= len(expected), 90, "every window")
    assert windows_of(direct) == expected


def test_broker_restart_loses_nothing(tmp_path, topic_factory, group_id, sqlite_url):
    with MotoServer() as moto, EmbeddedBroker(storage_engine=moto.storage_engine, env=moto.env) as broker:
        from confluent_kafka.admin import AdminClient, NewTopic

        admin = AdminClient({"bootstrap.servers": broker.bootstrap_servers})
        topic = f"restart-{group_id}"

        def make_topic(partitions: int) -> str:
            for f in admin.create_topics([NewTopic(topic, partitions, 1)]).values():
                f.result(10)
            return topic

        cfg, path, spec, data, topic, expected, store = _setup(tmp_path, broker.bootstrap_servers, make_topic, group_id, sqlite_url, 40_000, partitions=2)
        lines = data.splitlines()
        produce(broker.bootstrap_servers, topic, lines[:20_000])
        with ThreadedService(cfg, store):
            wait_for(lambda: len(windows_of(store)) >= 3, 60, "the first windows")
            broker.kill()
            time.sleep(3)
            broker.restart()
            produce(broker.bootstrap_servers, topic, lines[20_000:])
            wait_for(lambda: len(windows_of(store)) >= len(expected), 120, "every window after the restart")
        assert windows_of(store) == expected


def test_processes_in_one_group_give_the_windows_of_one(tmp_path, bootstrap, topic_factory, group_id, sqlite_url):
    cfg, path, spec, data, topic, expected, store = _setup(tmp_path, bootstrap, topic_factory, group_id, sqlite_url, 120_000)
    produce(bootstrap, topic, data)
    first = ServiceProcess(path, tmp_path / "a.log").start()
    wait_for(lambda: len(windows_of(store)) >= 2, 60, "the first process to close windows")
    second = ServiceProcess(path, tmp_path / "b.log").start()  # a rebalance mid-stream
    try:
        time.sleep(8)
        assert "revoked" in (tmp_path / "a.log").read_text()
        wait_for(lambda: len(windows_of(store)) >= len(expected), 180, "every window")
    finally:
        assert first.stop() == 0 and second.stop() == 0
    assert windows_of(store) == expected
    assert "assigned" in (tmp_path / "b.log").read_text()
