"""Avro schemas and the Avro decoder: both wire formats, and every way a message can be bad."""

from __future__ import annotations

import io
from pathlib import Path

import fastavro
import pytest

from monitor.config import parse_config
from monitor.events import BadEvent, EventDecoder
from monitor.exceptions import KafkaError
from monitor.kafka.avro import (
    SCHEMAS,
    AvroDecoder,
    load_schema,
    parsed_schema,
    registry_client,
    schema_text,
)

ROOT = Path(__file__).resolve().parents[2]
EVENT = {
    "model_id": "m",
    "model_version": "1",
    "prediction_id": "a",
    "timestamp": 1000,
    "features": {"x": 2.5, "c": "red", "n": None, "b": True, "i": 3},
    "prediction": 1,
    "score": 0.9,
    "scores": None,
    "segments": {"region": "eu"},
}


def _raw(record, schema="prediction"):
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, parsed_schema(schema), record)
    return buf.getvalue()


def _framed(registry, record, subject="predictions-value"):
    from confluent_kafka.schema_registry import Schema

    schema_id = registry.register_schema(subject, Schema(schema_text("prediction"), "AVRO"))
    return b"\x00" + schema_id.to_bytes(4, "big") + _raw(record), schema_id


@pytest.mark.parametrize("name", SCHEMAS)
def test_packaged_schemas_are_identical_to_the_canonical_ones(name):
    canonical = (ROOT / "schemas" / f"{name}.avsc").read_text()
    assert (ROOT / "monitor" / "schemas" / f"{name}.avsc").read_text() == canonical
    assert schema_text(name) == canonical
    assert load_schema(name)["namespace"] == "monitor.v1"


def test_schemas_match_the_json_contract():
    fields = {name: [f["name"] for f in load_schema(name)["fields"]] for name in SCHEMAS}
    assert fields == {
        "prediction": [
            "model_id",
            "model_version",
            "prediction_id",
            "timestamp",
            "features",
            "prediction",
            "score",
            "scores",
            "segments",
        ],
        "feature": [
            "model_id",
            "model_version",
            "prediction_id",
            "timestamp",
            "features",
            "segments",
        ],
        "label": ["model_id", "prediction_id", "label", "timestamp"],
    }


def test_raw_round_trip_keeps_types():
    out = AvroDecoder("prediction").decode([_raw(EVENT)])
    assert out.errors == [] and out.positions == [0]
    assert out.records == [EVENT]  # ints stay ints, bools bools; timestamps are epoch ms
    assert (
        type(out.records[0]["prediction"]) is int and type(out.records[0]["features"]["b"]) is bool
    )


def test_raw_bad_messages_are_classified():
    good = _raw(EVENT)
    out = AvroDecoder().decode([good, good[:-3], good + b"\x00\x01", b"", None, good])
    assert out.positions == [0, 5] and out.count == 6
    assert [(e.position, e.reason) for e in out.errors] == [
        (1, "avro_decode"),
        (2, "avro_decode"),
        (3, "empty"),
        (4, "null_value"),
    ]
    assert "truncated" in out.errors[0].detail
    assert "2 bytes left after the record" in out.errors[1].detail
    assert out.errors[3].detail == "the message has no value (a tombstone)"


def test_registry_bad_messages_are_classified():
    registry = registry_client("mock://classify")
    good, schema_id = _framed(registry, EVENT)
    unknown = b"\x00" + (schema_id + 1000).to_bytes(4, "big") + good[5:]
    out = AvroDecoder(registry=registry).decode(
        [
            good,
            b"\x01" + good[1:],
            b"\x00\x00",
            unknown,
            unknown,
            good[:-3],
            _raw(EVENT),
            good,
            None,
            b"",
        ]
    )
    assert out.positions == [0, 7]
    assert out.records == [EVENT, EVENT]
    assert [(e.position, e.reason) for e in out.errors] == [
        (1, "bad_magic_byte"),
        (2, "bad_magic_byte"),
        (3, "unknown_schema"),
        (4, "unknown_schema"),
        (5, "avro_decode"),
        (6, "bad_magic_byte"),
        (8, "null_value"),
        (9, "empty"),
    ]
    assert out.errors[0].detail == "first byte is 0x01, expected 0x00 (Confluent wire format)"
    assert out.errors[2].detail == f"schema id {schema_id + 1000} is not in the registry"


def test_registry_schemas_are_fetched_once(monkeypatch):
    registry = registry_client("mock://cache")
    good, _ = _framed(registry, EVENT)
    decoder = AvroDecoder(registry=registry)
    calls = []
    original = registry.get_schema
    monkeypatch.setattr(
        registry, "get_schema", lambda *a, **k: calls.append(a) or original(*a, **k)
    )
    decoder.decode([good] * 5)
    decoder.decode([good] * 5)
    assert len(calls) == 1


def test_a_non_avro_schema_is_unknown():
    from confluent_kafka.schema_registry import Schema

    registry = registry_client("mock://json")
    schema_id = registry.register_schema("x-value", Schema('{"type": "object"}', "JSON"))
    out = AvroDecoder(registry=registry).decode([b"\x00" + schema_id.to_bytes(4, "big") + b"{}"])
    assert out.errors == [
        BadEvent(0, "unknown_schema", f"schema id {schema_id} is a JSON schema, not Avro")
    ]


def test_an_unreachable_registry_raises():
    registry = registry_client("http://127.0.0.1:1", {"max.retries": 0})
    with pytest.raises(KafkaError, match="schema registry"):
        AvroDecoder(registry=registry).decode([b"\x00\x00\x00\x00\x01" + _raw(EVENT)])


def test_decode_events_reports_positions_of_the_input():
    cfg = parse_config(
        {"models": {"m": {"features": {"x": {"kind": "numeric"}, "c": {"kind": "categorical"}}}}}
    )
    good = _raw(EVENT)
    other = _raw({**EVENT, "model_id": "nope"})
    decoded = AvroDecoder().decode_events([b"\x02", good, other, good], EventDecoder(cfg))
    assert decoded.count == 4
    assert decoded.batches["m"].positions.tolist() == [1, 3]
    assert decoded.batches["m"].timestamps.tolist() == [1000, 1000]
    assert [(e.position, e.reason) for e in decoded.errors] == [
        (0, "avro_decode"),
        (2, "unknown_model"),
    ]


def test_decoder_arguments():
    with pytest.raises(ValueError, match="not both"):
        AvroDecoder("prediction", registry=registry_client("mock://x"))
    with pytest.raises(ValueError, match="unknown schema 'nope'"):
        AvroDecoder("nope")
