"""`monitor run` against the embedded Tansu broker: live = replay, dead letters, readiness."""

from __future__ import annotations

import urllib.request

import pytest
from confluent_kafka import Consumer, TopicPartition

from monitor.config import load_config
from monitor.kafka.topics import client_config, create_topics
from tests.kafka.kit import (
    ThreadedService,
    expected_performance,
    expected_windows,
    performance_of,
    prepare_store,
    produce,
    stream,
    wait_for,
    windows_of,
    write_config,
)


@pytest.fixture
def setup(tmp_path, bootstrap, topic_factory, group_id, sqlite_url):
    def make(n, partitions=4, drift_at=None, db_url=None, **extra):
        topic = topic_factory(partitions)
        path = write_config(
            tmp_path / "monitor.yaml",
            db_url=db_url or sqlite_url,
            bootstrap=bootstrap,
            topic=topic,
            group=group_id,
            partitions=partitions,
            **extra,
        )
        spec, data = stream(n, drift_at)
        cfg = load_config(path)
        create_topics(client_config(cfg), cfg)  # as `monitor topics create` does (dead letters)
        return cfg, path, spec, data, topic

    return make


def test_live_stream_gives_the_windows_of_a_replay(setup, tmp_path, bootstrap):
    cfg, path, spec, data, topic = setup(30_000, drift_at=15_000)
    expected = expected_windows(tmp_path, path, spec, data)
    store = prepare_store(cfg, spec)
    produce(bootstrap, topic, data)
    with ThreadedService(cfg, store) as service:
        wait_for(lambda: len(windows_of(store)) == len(expected), 60, "every window to close")
        assert service.ready
    assert windows_of(store) == expected
    drifted = {k[2] for k, v in expected.items() if v[4]}
    assert "num_01" in drifted and "num_00" not in drifted
    assert {k[1] for k in expected} == {
        "",
        "region=eu",
        "region=us",
        "region=other",
    }  # segment windows too


def test_bad_messages_go_to_the_dead_letter_topic_with_reasons(
    setup, tmp_path, bootstrap, consumer_config
):
    cfg, path, spec, data, topic = setup(8000, partitions=2)
    lines = data.splitlines()
    bad = [
        b"{not json",
        (
            b'{"model_id": "ghost", "model_version": "1", "prediction_id": "x", '
            b'"timestamp": 1, "features": {}}'
        ),
        lines[0].replace(b'"model_version":"v1",', b""),
        lines[1].replace(b'"num_00":', b'"num_00":"high","x":'),
    ]
    mixed = lines[:3000] + bad[:2] + lines[3000:6000] + bad[2:] + lines[6000:]
    expected = expected_windows(tmp_path, path, spec, b"\n".join(lines) + b"\n")
    store = prepare_store(cfg, spec)
    produce(bootstrap, topic, mixed)
    with ThreadedService(cfg, store) as service:
        wait_for(lambda: len(windows_of(store)) == len(expected), 60, "every window to close")
        invalid = {
            s.labels["reason"]: s.value
            for m in service.metrics.invalid.collect()
            for s in m.samples
            if s.name.endswith("_total")
        }
    assert windows_of(store) == expected  # no good event lost, none counted twice
    assert invalid == {"invalid_json": 1, "unknown_model": 1, "missing_field": 1, "wrong_type": 1}
    dlq = Consumer(consumer_config)
    dlq.assign([TopicPartition(f"{topic}-dlq", p, 0) for p in range(cfg.kafka.partitions)])
    got = []
    wait_for(
        lambda: (
            got.extend(m for m in dlq.consume(10, timeout=0.5) if m.error() is None)
            or len(got) >= 4
        ),
        20,
        "dead letters",
    )
    dlq.close()
    headers = [dict(m.headers()) for m in got]
    assert sorted(h["monitor.reason"].decode() for h in headers) == [
        "invalid_json",
        "missing_field",
        "unknown_model",
        "wrong_type",
    ]
    assert all(
        h["monitor.source.topic"].decode() == topic and int(h["monitor.source.offset"]) >= 0
        for h in headers
    )
    assert {m.value() for m in got} == set(bad)


def test_health_and_readiness_endpoints(setup, bootstrap):
    from monitor.http import OpsServer

    cfg, _path, spec, _data, _topic = setup(2000, partitions=1)
    store = prepare_store(cfg, spec)
    with ThreadedService(cfg, store) as service:
        ops = OpsServer(service.metrics.registry, service.readiness, port=0).start()
        try:
            base = f"http://127.0.0.1:{ops.port}"
            assert urllib.request.urlopen(f"{base}/healthz").status == 200
            wait_for(lambda: service.ready, 30, "partitions to be assigned")
            assert urllib.request.urlopen(f"{base}/readyz").status == 200
            body = urllib.request.urlopen(f"{base}/metrics").read().decode()
            assert "monitor_ready 1.0" in body and "monitor_assigned_partitions 1.0" in body
        finally:
            ops.stop()


def test_labels_topic_joins_like_a_replay(tmp_path, bootstrap, topic_factory, group_id, sqlite_url):
    """Predictions and labels through two co-partitioned topics give the performance windows of
    a replay of the same files."""
    from monitor.synth import generate, labels_to_jsonl, to_jsonl

    predictions, labels = topic_factory(4), topic_factory(4)
    path = write_config(
        tmp_path / "monitor.yaml",
        db_url=sqlite_url,
        bootstrap=bootstrap,
        topic=predictions,
        group=group_id,
        labels_topic=labels,
    )
    cfg = load_config(path)
    create_topics(client_config(cfg), cfg)
    spec, _ = stream(1)
    cols = generate(spec, 20_000)
    events, label_lines = to_jsonl(spec, cols), labels_to_jsonl(spec, cols)
    expected = expected_performance(tmp_path, cfg, spec, events, label_lines)
    store = prepare_store(cfg, spec)
    produce(bootstrap, predictions, events)
    produce(bootstrap, labels, label_lines)

    def got():
        return performance_of(store)

    with ThreadedService(cfg, store):
        wait_for(
            lambda: sum(v[1] for v in got().values()) == 20_000, 60, "every label to be joined"
        )
    assert got() == expected


def test_refuses_to_start_when_labels_are_not_copartitioned(
    tmp_path, bootstrap, topic_factory, group_id, sqlite_url
):
    from monitor.exceptions import KafkaError
    from monitor.pipeline.kafka import KafkaService
    from monitor.store import Store

    predictions, labels = topic_factory(4), topic_factory(2)
    path = write_config(
        tmp_path / "monitor.yaml",
        db_url=sqlite_url,
        bootstrap=bootstrap,
        topic=predictions,
        group=group_id,
        labels_topic=labels,
    )
    service = KafkaService(load_config(path), Store(sqlite_url))
    with pytest.raises(
        KafkaError, match="has 4 partitions but labels topic .* has 2: they must be co-partitioned"
    ):
        service.run(install_signals=False)
