"""Kafka fixtures: one embedded Tansu broker per session, a fresh topic and group per test.

Consumers in these tests set ``session.timeout.ms=6000``: Tansu completes a group join after
about half the session timeout (3 s here, 23 s at librdkafka's default of 45 s). Tests that only
need to read a topic back assign its partitions instead of joining a group, which costs nothing.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from confluent_kafka import Consumer, Message, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from monitor.kafka.broker import EmbeddedBroker

SESSION_TIMEOUT_MS = 6000


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: takes more than ~10 s")


@pytest.fixture(scope="session")
def broker() -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker() as b:
        yield b


@pytest.fixture(scope="session")
def bootstrap(broker: EmbeddedBroker) -> str:
    return broker.bootstrap_servers


@pytest.fixture(scope="session")
def admin(bootstrap: str) -> AdminClient:
    # No auto-creation: a metadata request naming a topic must not create it.
    return AdminClient({"bootstrap.servers": bootstrap, "allow.auto.create.topics": False})


@pytest.fixture
def topic_name() -> Callable[[str], str]:
    """A factory of random topic names, unique per test."""

    def make(prefix: str = "t") -> str:
        return f"{prefix}-{uuid.uuid4().hex[:10]}"

    return make


@pytest.fixture
def topic_factory(admin: AdminClient, topic_name: Callable[[str], str]) -> Callable[..., str]:
    """Create a topic with a random name (or ``name``) and ``partitions`` partitions."""

    def make(partitions: int = 1, name: str | None = None) -> str:
        name = name or topic_name("t")
        for future in admin.create_topics([NewTopic(name, partitions, 1)]).values():
            future.result(10)
        return name

    return make


@pytest.fixture
def group_id() -> str:
    return f"g-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def consumer_config(bootstrap: str, group_id: str) -> dict[str, Any]:
    return {
        "bootstrap.servers": bootstrap,
        "group.id": group_id,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "session.timeout.ms": SESSION_TIMEOUT_MS,
        "fetch.wait.max.ms": 50,
    }


@pytest.fixture
def read_topic(consumer_config: dict[str, Any], admin: AdminClient) -> Callable[..., list[Message]]:
    """Read ``n`` messages of a topic from the beginning, by assignment (no group join); the
    deadline is generous: it only matters when messages are missing, and the box may be busy."""

    def read(topic: str, n: int, timeout: float = 60.0) -> list[Message]:
        partitions = admin.list_topics(timeout=5).topics[topic].partitions
        consumer = Consumer(consumer_config)
        try:
            consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
            out: list[Message] = []
            deadline = time.monotonic() + timeout
            while len(out) < n and time.monotonic() < deadline:
                for msg in consumer.consume(num_messages=n - len(out), timeout=0.2):
                    if msg.error() is None:
                        out.append(msg)
            assert len(out) == n, f"read {len(out)} of {n} messages from {topic!r} in {timeout}s"
            return out
        finally:
            consumer.close()

    return read
