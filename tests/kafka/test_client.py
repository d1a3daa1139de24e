"""MonitorClient: round trips through the broker in every format, keys, co-partitioning and
delivery errors."""

from __future__ import annotations

import datetime as dt

import msgspec
import numpy as np
import pytest

from monitor.client import MonitorClient
from monitor.config import parse_config
from monitor.events import EventDecoder
from monitor.exceptions import EventError, KafkaError
from monitor.kafka.avro import AvroDecoder

CONFIG = parse_config(
    {
        "models": {
            "fraud": {
                "features": {
                    "amount": {"kind": "numeric"},
                    "age": {"kind": "numeric"},
                    "country": {"kind": "categorical"},
                    "new": {"kind": "categorical"},
                },
            }
        }
    }
)

FORMATS = [("json", None), ("avro", None), ("avro", "mock://roundtrip")]
FORMAT_IDS = ["json", "avro-raw", "avro-registry"]


def _events(n):
    """What an application logs: predictions with every optional field, some missing values."""
    out = []
    for i in range(n):
        out.append(
            {
                "features": {
                    "amount": 10.5 * i,
                    "age": None if i % 3 == 0 else 30 + i,
                    "country": ["DE", "FR", None][i % 3],
                    "new": i % 2 == 0,
                },
                "prediction": i % 2,
                "score": i / n,
                "scores": {"0": 1 - i / n, "1": i / n} if i % 2 else None,
                "segments": {"region": "eu"} if i % 4 == 0 else None,
                "prediction_id": f"p{i}",
                "timestamp": 1_767_225_600_000 + i,
            }
        )
    return out


def _decode(client, values):
    if client.format == "json":
        return [msgspec.json.decode(v) for v in values]
    decoder = (
        AvroDecoder(registry=client.schema_registry)
        if client.schema_registry
        else AvroDecoder("prediction")
    )
    batch = decoder.decode(values)
    assert batch.errors == []
    return batch.records


@pytest.mark.parametrize(("fmt", "registry"), FORMATS, ids=FORMAT_IDS)
def test_prediction_round_trip(bootstrap, topic_factory, read_topic, fmt, registry):
    topic = topic_factory(partitions=2)
    logged = _events(30)
    with MonitorClient(
        bootstrap,
        model_id="fraud",
        model_version="7",
        predictions_topic=topic,
        format=fmt,
        schema_registry_url=registry,
    ) as client:
        ids = [client.log_prediction(**event) for event in logged]
    assert ids == [e["prediction_id"] for e in logged]
    messages = sorted(read_topic(topic, 30), key=lambda m: int(m.key()[1:]))
    assert [m.key().decode() for m in messages] == ids  # keyed by prediction id

    records = _decode(client, [m.value() for m in messages])
    for record, event in zip(records, logged, strict=True):
        expected = {"model_id": "fraud", "model_version": "7", **event}
        if fmt == "json":  # None fields are left out of JSON
            expected = {k: v for k, v in expected.items() if v is not None}
        assert record == expected

    # ... and the event contract reads them.
    values = [m.value() for m in messages]
    decoder = EventDecoder(CONFIG)
    if fmt == "json":
        decoded = decoder.decode_values(values)
    else:
        avro = (
            AvroDecoder(registry=client.schema_registry) if registry else AvroDecoder("prediction")
        )
        decoded = avro.decode_events(values, decoder)
    assert decoded.errors == []
    batch = decoded.batches["fraud"]
    assert batch.prediction_ids == ids
    assert batch.timestamps.tolist() == [e["timestamp"] for e in logged]
    amount = batch.numeric[:, 0]
    assert amount.tolist() == [e["features"]["amount"] for e in logged]


@pytest.mark.parametrize(("fmt", "registry"), FORMATS, ids=FORMAT_IDS)
def test_features_and_labels_round_trip(bootstrap, topic_factory, read_topic, fmt, registry):
    features_topic, labels_topic = topic_factory(), topic_factory()
    when = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)
    with MonitorClient(
        bootstrap,
        model_id="fraud",
        model_version="7",
        features_topic=features_topic,
        labels_topic=labels_topic,
        format=fmt,
        schema_registry_url=registry,
    ) as client:
        pid = client.log_features(
            {"amount": 1.0, "country": "DE"}, segments={"region": "eu"}, timestamp=when
        )
        client.log_label(pid, True, timestamp=when.replace(tzinfo=None))  # naive = UTC
        client.log_label("other", "fraud", timestamp=5)
    ms = int(when.timestamp() * 1000)
    (feature,) = read_topic(features_topic, 1)
    labels = read_topic(labels_topic, 2)
    assert feature.key().decode() == pid and labels[0].key().decode() == pid
    if fmt == "json":
        feature_record = msgspec.json.decode(feature.value())
        label_records = [msgspec.json.decode(m.value()) for m in labels]
    else:
        reg = client.schema_registry
        feature_record = (
            (AvroDecoder(registry=reg) if reg else AvroDecoder("feature"))
            .decode([feature.value()])
            .records[0]
        )
        label_records = (
            (AvroDecoder(registry=reg) if reg else AvroDecoder("label"))
            .decode([m.value() for m in labels])
            .records
        )
    assert feature_record == {
        "model_id": "fraud",
        "model_version": "7",
        "prediction_id": pid,
        "timestamp": ms,
        "features": {"amount": 1.0, "country": "DE"},
        "segments": {"region": "eu"},
    }
    assert label_records == [
        {"model_id": "fraud", "prediction_id": pid, "label": True, "timestamp": ms},
        {"model_id": "fraud", "prediction_id": "other", "label": "fraud", "timestamp": 5},
    ]


def test_predictions_and_labels_are_copartitioned(bootstrap, topic_factory, read_topic):
    predictions, labels = topic_factory(partitions=4), topic_factory(partitions=4)
    with MonitorClient(
        bootstrap,
        model_id="fraud",
        model_version="1",
        predictions_topic=predictions,
        labels_topic=labels,
    ) as client:
        ids = [client.log_prediction({"amount": 1.0}, prediction=0) for _ in range(60)]
        for pid in ids:
            client.log_label(pid, 1)
    where = {m.key(): m.partition() for m in read_topic(predictions, 60)}
    assert {m.key(): m.partition() for m in read_topic(labels, 60)} == where
    assert len(set(where.values())) == 4  # the keys spread over every partition
    # The partition is the Java client's: murmur2 of the key, so JVM producers co-partition too.
    assert where == {key: (_murmur2(key) & 0x7FFFFFFF) % 4 for key in where}


def _murmur2(data: bytes) -> int:
    """Kafka's murmur2 (org.apache.kafka.common.utils.Utils.murmur2), as an unsigned 32-bit int."""
    m, mask = 0x5BD1E995, 0xFFFFFFFF
    length = len(data)
    h = (0x9747B28C ^ length) & mask
    tail = length - length % 4
    for i in range(0, tail, 4):
        k = int.from_bytes(data[i : i + 4], "little") * m & mask
        k ^= k >> 24
        h = (h * m & mask) ^ (k * m & mask)
    rest = length % 4
    if rest == 3:
        h ^= data[tail + 2] << 16
    if rest >= 2:
        h ^= data[tail + 1] << 8
    if rest >= 1:
        h = (h ^ data[tail]) * m & mask
    h ^= h >> 13
    h = h * m & mask
    return h ^ (h >> 15)


def test_numpy_values_and_defaults(bootstrap, topic_factory, read_topic):
    topic = topic_factory()
    for fmt in ("json", "avro"):
        with MonitorClient(
            bootstrap, model_id="m", model_version="1", predictions_topic=topic, format=fmt
        ) as client:
            before = dt.datetime.now(dt.UTC).timestamp() * 1000
            pid = client.log_prediction(
                {"x": np.float64(1.5), "n": np.int64(3), "b": np.bool_(True)}, prediction=1
            )
    assert len(pid) == 32 and int(pid, 16)
    json_msg, avro_msg = sorted(read_topic(topic, 2), key=lambda m: m.offset())
    assert msgspec.json.decode(json_msg.value())["features"] == {"x": 1.5, "n": 3, "b": True}
    record = AvroDecoder().decode([avro_msg.value()]).records[0]
    assert record["features"] == {"x": 1.5, "n": 3, "b": True}
    assert before - 1 <= record["timestamp"] <= before + 60_000


def test_delivery_failure_is_reported_by_flush(caplog):
    client = MonitorClient(
        "127.0.0.1:1",
        model_id="m",
        model_version="1",
        producer_config={"message.timeout.ms": 300, "log_level": 0},
    )
    for _ in range(3):
        client.log_prediction({"x": 1.0}, prediction=1)
    with pytest.raises(
        KafkaError,
        match=r"3 message\(s\) failed delivery \(3 _MSG_TIMED_OUT; first: "
        r"topic 'predictions' key '[0-9a-f]{32}'",
    ):
        client.flush(5)
    client.flush(0)  # each failure is reported once
    client.log_label("p", 1)
    with pytest.raises(KafkaError, match=r"1 message\(s\) still undelivered after 0.1s"):
        client.flush(0.1)
    stats = client.close(1.0)  # waits, and logs the label that timed out meanwhile
    assert "MonitorClient closed: 1 message(s) failed delivery" in caplog.text
    assert stats == client.close() == client.stats  # closing twice is a no-op
    assert stats.sent == 0 and stats.failed == 4 and stats.pending == client.pending == 0
    with pytest.raises(KafkaError, match="the MonitorClient is closed"):
        client.log_label("p", 1)
    with pytest.raises(KafkaError, match="the MonitorClient is closed"):
        client.flush()


def test_oversized_message_raises_at_once(bootstrap, topic_factory):
    topic = topic_factory()
    client = MonitorClient(
        bootstrap,
        model_id="m",
        model_version="1",
        predictions_topic=topic,
        producer_config={"message.max.bytes": 10_000},
    )
    with client, pytest.raises(KafkaError, match=f"cannot produce to '{topic}': .*too large"):
        client.log_prediction({"x": "y" * 20_000}, prediction=1)


def test_invalid_arguments():
    with pytest.raises(ValueError, match="schema_registry_url is only used with format='avro'"):
        MonitorClient("h:1", model_id="m", model_version="1", schema_registry_url="mock://x")
    with pytest.raises(ValueError, match="format must be 'json' or 'avro', got 'xml'"):
        MonitorClient("h:1", model_id="m", model_version="1", format="xml")
    with pytest.raises(ValueError, match="model_id must be a non-empty string"):
        MonitorClient("h:1", model_id="", model_version="1")
    with pytest.raises(ValueError, match="on_full must be 'drop' or 'block', got 'wait'"):
        MonitorClient("h:1", model_id="m", model_version="1", on_full="wait")
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="block_timeout must be a finite number >= 0"):
            MonitorClient("h:1", model_id="m", model_version="1", block_timeout=bad)
    with pytest.raises(KafkaError, match="invalid producer config"):
        MonitorClient(
            "h:1", model_id="m", model_version="1", producer_config={"no.such.setting": 1}
        )
    client = MonitorClient(
        "h:1", model_id="m", model_version="1", format="avro", producer_config={"log_level": 0}
    )
    with pytest.raises(EventError, match="wrong_type: cannot encode the event as avro"):
        client.log_prediction({"x": [1, 2]}, prediction=1)
    with pytest.raises(TypeError, match="timestamp must be epoch milliseconds"):
        client.log_prediction({"x": 1.0}, prediction=1, timestamp=1.5)
    client.close(0.1)
