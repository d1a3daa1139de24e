"""Every poison kind through `monitor run`, interleaved with good events, on SQLite and PostgreSQL.

Each of these once crashed the service (and again on every restart), wedged its checkpoint, or
emptied its windows. Now the process stays up, every bad message is a dead letter with its reason
(topic headers and counters), and the good events' windows equal a clean replay's.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from tests.kafka.kit import (
    ThreadedService,
    configured_topic,
    expected_windows,
    prepare_store,
    stream,
    wait_for,
    windows_of,
)

pytestmark = pytest.mark.slow

GOOD = {
    "model_id": "demo",
    "model_version": "v1",
    "prediction_id": "x",
    "timestamp": 1_767_225_600_000,
    "features": {"num_00": 1.0, "num_01": 2.0, "num_02": 3.0, "cat10": "cat10_1"},
}


def ev(**change: object) -> bytes:
    return json.dumps({**GOOD, **change}).encode()


def raw_ts(literal: str) -> bytes:  # what Python's json writes for NaN and the infinities
    return ev(timestamp=0).replace(b'"timestamp": 0', b'"timestamp": ' + literal.encode())


#: (message value, the reason its dead letter must carry)
POISON: list[tuple[bytes | None, str]] = [
    (None, "null_value"),  # a tombstone
    (b"", "empty"),
    (b'{"a":' * 20_000, "too_deep"),
    (b"[" * 200_000, "too_deep"),
    (raw_ts("NaN"), "bad_timestamp"),
    (raw_ts("Infinity"), "bad_timestamp"),
    (raw_ts("-Infinity"), "bad_timestamp"),
    (ev(timestamp=1e300), "timestamp_out_of_range"),
    (ev(timestamp=18_446_744_073_709_551_615), "timestamp_out_of_range"),
    (ev(timestamp=-9_223_372_036_854_775_808), "timestamp_out_of_range"),
    (ev(timestamp=4_102_444_800_000), "timestamp_out_of_range"),  # 2100: ahead of the wall clock
    (ev(timestamp=253_402_300_799_000), "timestamp_out_of_range"),  # 9999
    (ev(timestamp=1_767_225_600_000_000), "timestamp_out_of_range"),  # microseconds
    (ev(model_version="v" * 300), "field_too_long"),
    (ev(model_version="v\u00001"), "invalid_characters"),
    (ev(prediction_id="p" * 201), "field_too_long"),
    (json.dumps({k: v for k, v in GOOD.items() if k != "model_id"}).encode(), "missing_model_id"),
    (ev(model_id="ghost"), "unknown_model"),
    (b"{not json", "invalid_json"),
    (b"[1, 2]", "not_an_object"),
    (ev(features={"num_00": "high"}), "wrong_type"),
    (ev(segments={"region": "r" * 400}), "field_too_long"),
]


@pytest.mark.parametrize("db", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_every_poison_costs_only_itself(
    db, request, tmp_path, bootstrap, topic_factory, group_id
) -> None:
    db_url = request.getfixturevalue("sqlite_url" if db == "sqlite" else "pg_url")
    topic = topic_factory(2)
    cfg, path = configured_topic(tmp_path, bootstrap, topic, group_id, db_url)
    spec, data = stream(12_000)
    expected = expected_windows(tmp_path, path, spec, data)
    store = prepare_store(cfg, spec)

    lines = data.splitlines()
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20})
    every = len(lines) // (len(POISON) + 1)
    for i, line in enumerate(lines):
        producer.produce(topic, value=line, key=json.loads(line)["prediction_id"].encode())
        if i % every == every - 1 and (i // every) < len(POISON):
            value, _ = POISON[i // every]
            producer.produce(
                topic, value=value, key=b"poison-%d" % (i // every), partition=(i // every) % 2
            )
        producer.poll(0)
    assert producer.flush(60) == 0

    with ThreadedService(cfg, store) as service:
        wait_for(lambda: len(windows_of(store)) == len(expected), 120, "every window to close")
        wait_for(
            lambda: service.dead_letters is not None and service.dead_letters.flush(0) == 0,
            60,
            "dead letters sent",
        )
        invalid = Counter(
            {
                s.labels["reason"]: int(s.value)
                for m in service.metrics.invalid.collect()
                for s in m.samples
                if s.name.endswith("_total")
            }
        )
        assert service.ready, service.readiness()
    assert windows_of(store) == expected  # no good event lost, none counted twice

    wanted = Counter(reason for _, reason in POISON)
    assert invalid == wanted
    dlq = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": f"{group_id}-dlq", "enable.auto.commit": False}
    )
    dlq.assign([TopicPartition(f"{topic}-dlq", p, 0) for p in range(cfg.kafka.partitions)])
    got: list = []
    wait_for(
        lambda: (
            got.extend(m for m in dlq.consume(50, timeout=0.5) if m.error() is None)
            or len(got) >= len(POISON)
        ),
        60,
        "every dead letter",
    )
    dlq.close()
    by_key = {m.key(): (m.value(), dict(m.headers())["monitor.reason"].decode()) for m in got}
    assert by_key == {b"poison-%d" % k: (v, reason) for k, (v, reason) in enumerate(POISON)}
