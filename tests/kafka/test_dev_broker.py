"""The development broker of ``monitor run`` (no ``kafka.bootstrap_servers``): a stable port,
topics on local disk that survive a restart, and an address file ``monitor generate`` reads."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from monitor.config import load_config
from monitor.exceptions import KafkaError
from monitor.kafka.broker import ADDRESS_FILE, DevBroker, read_address
from monitor.kafka.topics import client_config, create_topics

MONITOR = str(Path(sys.executable).with_name("monitor"))


def _read_all(servers: str, topic: str, n: int) -> list[dict]:
    partitions = AdminClient({"bootstrap.servers": servers}).list_topics(timeout=10).topics[topic]
    consumer = Consumer(
        {"bootstrap.servers": servers, "group.id": "reader", "enable.auto.commit": False}
    )
    consumer.assign([TopicPartition(topic, p, 0) for p in partitions.partitions])
    out: list[dict] = []
    deadline = time.monotonic() + 60
    while len(out) < n and time.monotonic() < deadline:
        out += [
            json.loads(m.value())
            for m in consumer.consume(num_messages=n, timeout=0.2)
            if m.error() is None
        ]
    consumer.close()
    return out


def test_what_generate_produced_survives_a_restart(tmp_path):
    """``monitor generate`` with no broker configured finds the one this directory's dev broker
    wrote to monitor-broker.json; after a stop and start on the same port, from the same data
    directory, the topics and every message are still there."""
    config = tmp_path / "monitor.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "kafka": {"partitions": 2},
                "models": {
                    "m": {
                        "features": {"x": {"kind": "numeric"}},
                        "topics": {"predictions": "predictions", "labels": "labels"},
                    }
                },
            }
        )
    )
    cfg = load_config(config)
    dev = {"data_dir": tmp_path / ".monitor-broker", "address_file": tmp_path / ADDRESS_FILE}
    with DevBroker(port=0, **dev) as broker:
        servers = broker.bootstrap_servers
        assert json.loads((tmp_path / ADDRESS_FILE).read_text())["bootstrap_servers"] == servers
        create_topics(client_config(cfg, **{"bootstrap.servers": servers}), cfg)
        done = subprocess.run(
            [MONITOR, "generate", "-c", str(config), "--rate", "2000", "--events", "300"]
            + ["--label-delay", "0s"],
            cwd=tmp_path,
            capture_output=True,
            check=False,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        assert f"to {servers}" in done.stdout
        assert "produced 300 predictions and 300 labels" in done.stdout
        before = _read_all(servers, "predictions", 300)
    assert not (tmp_path / ADDRESS_FILE).exists()

    with DevBroker(port=int(servers.rsplit(":", 1)[1]), **dev) as again:
        assert again.bootstrap_servers == servers
        topics = AdminClient({"bootstrap.servers": servers}).list_topics(timeout=10).topics
        assert {t: len(topics[t].partitions) for t in ("predictions", "labels")} == {
            "predictions": 2,
            "labels": 2,
        }
        after = _read_all(servers, "predictions", 300)
        assert sorted(e["prediction_id"] for e in after) == sorted(
            e["prediction_id"] for e in before
        )
        assert len(_read_all(servers, "labels", 300)) == 300


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.create_server(("127.0.0.1", 0)) as holder:
        yield holder.getsockname()[1]


def test_a_taken_port_is_an_error_naming_the_key(tmp_path, taken_port):
    dev = DevBroker(port=taken_port, storage="memory", address_file=tmp_path / ADDRESS_FILE)
    with pytest.raises(KafkaError, match=rf"port {taken_port} .*kafka\.embedded\.port"):
        dev.start()
    assert not (tmp_path / ADDRESS_FILE).exists()


def test_a_second_dev_broker_in_the_same_directory_is_refused(tmp_path):
    address = tmp_path / ADDRESS_FILE
    with DevBroker(port=0, storage="memory", address_file=address) as first:
        with pytest.raises(KafkaError, match=f"is running on {first.bootstrap_servers}"):
            DevBroker(port=0, storage="memory", address_file=address).start()
        assert read_address(address) == first.bootstrap_servers


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (None, "start `monitor run`"),
        ("not json", "not a development broker's address file"),
        ('{"bootstrap_servers": "evil.example:9092", "pid": 1}', "must be 127.0.0.1:PORT"),
        ('{"bootstrap_servers": "127.0.0.1:19092"}', "not a development broker's address"),
        ('["127.0.0.1:19092"]', "not a development broker's address"),
    ],
)
def test_read_address_says_why_not(tmp_path, content, reason):
    path = tmp_path / ADDRESS_FILE
    if content is not None:
        path.write_text(content)
    with pytest.raises(KafkaError, match=reason.replace("(", r"\(")):
        read_address(path)


def test_an_address_left_by_a_dead_process_is_stale(tmp_path):
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    path = tmp_path / ADDRESS_FILE
    path.write_text(json.dumps({"bootstrap_servers": "127.0.0.1:19092", "pid": int(gone)}))
    with pytest.raises(KafkaError, match=f"stale: the monitor run that wrote it \\(pid {gone}\\)"):
        read_address(path)
