"""A broker with S3 storage (moto on loopback) keeps topics, messages and committed offsets
across a restart and across a SIGKILL."""

from __future__ import annotations

import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from monitor.config import parse_config
from monitor.kafka.broker import EmbeddedBroker
from monitor.kafka.topics import create_topics

from .moto import MotoServer


def _read(servers: str, topic: str, partitions: int, n: int) -> list[bytes]:
    consumer = Consumer(
        {"bootstrap.servers": servers, "group.id": "reader", "enable.auto.commit": False}
    )
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    out: list[bytes] = []
    deadline = time.monotonic() + 10
    while len(out) < n and time.monotonic() < deadline:
        out += [
            m.value() for m in consumer.consume(num_messages=n, timeout=0.2) if m.error() is None
        ]
    consumer.close()
    return sorted(out)


def test_topics_survive_restart_with_s3_storage():
    cfg = parse_config(
        {"kafka": {"partitions": 3}, "models": {"m": {"features": {"x": {"kind": "numeric"}}}}}
    )
    with (
        MotoServer("tansu") as moto,
        EmbeddedBroker(storage_engine=moto.storage_engine, env=moto.env) as broker,
    ):
        servers = broker.bootstrap_servers
        names = create_topics({"bootstrap.servers": servers}, cfg)
        producer = Producer({"bootstrap.servers": servers})
        for i in range(10):
            producer.produce("predictions", b"v%d" % i, b"k%d" % i)
        assert producer.flush(10) == 0
        committer = Consumer({"bootstrap.servers": servers, "group.id": "monitor"})
        committer.commit(offsets=[TopicPartition("predictions", 0, 2)], asynchronous=False)
        committer.close()

        for restart in (broker.restart, lambda: (broker.kill(), broker.start())):
            restart()
            assert broker.bootstrap_servers == servers
            topics = AdminClient({"bootstrap.servers": servers}).list_topics(timeout=5).topics
            assert {name: len(topics[name].partitions) for name in names} == dict.fromkeys(names, 3)
            assert _read(servers, "predictions", 3, 10) == sorted(b"v%d" % i for i in range(10))
            reader = Consumer({"bootstrap.servers": servers, "group.id": "monitor"})
            assert reader.committed([TopicPartition("predictions", 0)], timeout=5)[0].offset == 2
            reader.close()
