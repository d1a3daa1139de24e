"""Fuzzing every decoder with hypothesis: random bytes, random JSON values, valid events with a
field replaced, removed or its bytes mutated, huge numbers, deep nesting, unicode (surrogates,
NUL, controls) and very long strings, as Kafka values, JSONL lines, parsed objects and Avro.

Properties, for every batch (``tests.decode_kit.check``): nothing raises; every input is a good
event or one bad event (the count is kept); each reason is a decoder's documented reason, with a
detail; and each good event decodes in its batch exactly as it does alone. Valid events of any
shape decode to the values they carry.
"""

from __future__ import annotations

import io
import json
import math
from typing import Any

import fastavro
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.events import REASONS, EventDecoder, LabelDecoder
from monitor.kafka.avro import AvroDecoder, parsed_schema, registry_client, schema_text
from monitor.limits import (
    MAX_ID_CHARS,
    MAX_SEGMENT_KEY_CHARS,
    MAX_SEGMENT_VALUE_CHARS,
    MAX_VALUE_CHARS,
)
from tests.decode_kit import (
    CFG,
    EVENT,
    LABEL,
    REGRESSION,
    TWO_MODELS,
    avro_event,
    check,
    dump,
    jsonl,
    rows,
)

#: What a decoder (not the engine or the label join) may answer.
DECODER_REASONS = set(REASONS) - {
    "no_reference",
    "too_many_versions",
    "labels_not_expected",
    "unknown_class",
}
FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

EVENTS = {"one model": EventDecoder(CFG), "two models": EventDecoder(TWO_MODELS)}
LABELS = {"classification": LabelDecoder(CFG), "regression": LabelDecoder(REGRESSION)}

# -- values ---------------------------------------------------------------------------------------
any_text = st.one_of(
    st.text(
        st.characters(codec=None, exclude_categories=()), max_size=30
    ),  # surrogates and controls too
    st.text(st.sampled_from("a\x00\x1f\n\x7f\x85é東👩\u200d\ud800"), max_size=10),
    st.builds(lambda c, n: c * n, st.sampled_from(["x", "é", "\x00"]), st.integers(150, 450)),
)
numbers = st.one_of(
    st.integers(),
    st.integers(-(10**400), 10**400),
    st.sampled_from([2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63), -(2**63) - 1, 10**200]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 1e300, -1e300, 5e-324, 253_402_300_799_999.9]),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, any_text)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(any_text, inner, max_size=4),
    max_leaves=12,
)


def deep(n: int, closed: bool) -> bytes:
    return b"[" * n + (b"]" * n if closed else b"")


@st.composite
def mutated_event(draw: st.DrawFn, base: dict[str, Any]) -> dict[str, Any]:
    """``base`` with a field (or a feature, or a segment) replaced by anything, or removed."""
    obj = json.loads(json.dumps(base))
    where = draw(
        st.sampled_from(
            [*obj, *(f"features.{k}" for k in obj.get("features", {})), "segments.region", "new"]
        )
    )
    target, key = (
        (obj, where)
        if "." not in where
        else (obj.setdefault(where.split(".")[0], {}), where.split(".")[1])
    )
    if draw(st.booleans()) and key in target:
        del target[key]
    else:
        target[key] = draw(json_values)
    return obj


def flip(data: bytes, edits: list[tuple[int, int]]) -> bytes:
    out = bytearray(data)
    for at, byte in edits:
        if out:
            out[at % len(out)] = byte
    return bytes(out)


def messages(base: dict[str, Any]) -> st.SearchStrategy[bytes | None]:
    """Kafka values: mostly hostile, some good, so that batches mix both."""
    valid = json.dumps(base).encode()
    return st.one_of(
        st.just(valid),
        st.none(),
        st.binary(max_size=100),
        json_values.map(dump),
        mutated_event(base).map(dump),
        st.lists(
            st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=3
        ).map(lambda e: flip(valid, e)),
        st.builds(deep, st.integers(1, 3_000), st.booleans()),
        st.builds(
            lambda n: valid[:-1] + b', "extra": ' + deep(n, True) + b"}", st.integers(1, 3_000)
        ),
        st.integers(0, len(valid)).map(lambda n: valid[:n]),
    )


def check_reasons(bad: dict[int, str]) -> None:
    assert set(bad.values()) <= DECODER_REASONS, set(bad.values()) - DECODER_REASONS


# -- JSON: Kafka values, JSONL lines, parsed objects ----------------------------------------------
@pytest.mark.parametrize("name", EVENTS)
@FUZZ
@given(data=st.data())
def test_event_values(name: str, data: st.DataObject) -> None:
    values = data.draw(st.lists(messages(EVENT), max_size=12))
    check_reasons(check(EVENTS[name].decode_values, values))


@pytest.mark.parametrize("name", EVENTS)
@FUZZ
@given(data=st.data())
def test_event_lines(name: str, data: st.DataObject) -> None:
    lines = data.draw(
        st.lists(
            st.one_of(
                messages(EVENT).filter(lambda v: v is not None),
                st.sampled_from([b"", b"  ", b"\r"]),
            ),
            max_size=12,
        )
    )
    lines = [line.replace(b"\n", b" ") for line in lines]  # a line is what lies between newlines
    last_newline = data.draw(st.booleans())
    check_reasons(check(lambda ls: EVENTS[name].decode_lines(jsonl(ls, last_newline)), lines))


@pytest.mark.parametrize("name", EVENTS)
@FUZZ
@given(objects=st.lists(st.one_of(st.just(EVENT), mutated_event(EVENT), json_values), max_size=12))
def test_event_objects(name: str, objects: list[Any]) -> None:
    check_reasons(check(EVENTS[name].decode_objects, objects))


@pytest.mark.parametrize("name", LABELS)
@FUZZ
@given(data=st.data())
def test_label_values_and_lines(name: str, data: st.DataObject) -> None:
    base = {**LABEL, "model_id": "r", "label": 1.5} if name == "regression" else LABEL
    values = data.draw(st.lists(messages(base), max_size=12))
    check_reasons(check(LABELS[name].decode_values, values))
    lines = [v.replace(b"\n", b" ") for v in values if v is not None]
    check_reasons(check(lambda ls: LABELS[name].decode_lines(jsonl(ls)), lines))
    check_reasons(
        check(LABELS[name].decode_objects, data.draw(st.lists(mutated_event(base), max_size=6)))
    )


# -- Avro: raw and Confluent-framed ---------------------------------------------------------------
def _avro(record: dict[str, Any], schema: str) -> bytes | None:
    """``record`` in Avro binary, or None when the schema cannot hold it (a mutated record)."""
    buf = io.BytesIO()
    try:
        fastavro.schemaless_writer(buf, parsed_schema(schema), record)
    except Exception:  # noqa: BLE001 (fastavro refuses values of the wrong type in many ways)
        return None
    return buf.getvalue()


def avro_messages(base: dict[str, Any], schema: str) -> st.SearchStrategy[bytes | None]:
    valid = _avro(base, schema)
    assert valid is not None
    return st.one_of(
        st.just(valid),
        st.none(),
        st.binary(max_size=100),
        st.integers(0, len(valid)).map(lambda n: valid[:n]),
        st.lists(
            st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=3
        ).map(lambda e: flip(valid, e)),
        mutated_event(base).map(lambda r: _avro(r, schema) or valid),
        st.builds(
            lambda ts, version, pid: (
                _avro(
                    {**base, "timestamp": ts, "prediction_id": pid}
                    | ({"model_version": version} if "model_version" in base else {}),
                    schema,
                )
                or valid
            ),
            st.integers(-(2**63), 2**63 - 1),
            any_text.filter(lambda t: _utf8(t)),
            any_text.filter(lambda t: _utf8(t)),
        ),
    )


def _utf8(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


@FUZZ
@given(data=st.data())
def test_avro_events_and_labels_raw(data: st.DataObject) -> None:
    values = data.draw(st.lists(avro_messages(avro_event(), "prediction"), max_size=10))
    check_reasons(check(lambda vs: AvroDecoder().decode_events(vs, EVENTS["one model"]), values))
    labels = data.draw(st.lists(avro_messages(LABEL, "label"), max_size=10))
    check_reasons(
        check(lambda vs: AvroDecoder("label").decode_events(vs, LABELS["classification"]), labels)
    )


REGISTRY = registry_client("mock://fuzz")


@FUZZ
@given(data=st.data())
def test_avro_events_framed(data: st.DataObject) -> None:
    from confluent_kafka.schema_registry import Schema

    schema_id = REGISTRY.register_schema("fuzz-value", Schema(schema_text("prediction"), "AVRO"))
    header = st.sampled_from(
        [
            b"\x00" + schema_id.to_bytes(4, "big"),
            b"\x00" + (schema_id + 99).to_bytes(4, "big"),
            b"\x01\x00\x00\x00\x01",
            b"\x00",
        ]
    )
    values = data.draw(
        st.lists(
            st.one_of(
                st.none(),
                st.builds(
                    lambda h, body: h + (body or b""),
                    header,
                    avro_messages(avro_event(), "prediction"),
                ),
            ),
            max_size=10,
        )
    )
    check_reasons(
        check(
            lambda vs: AvroDecoder(registry=REGISTRY).decode_events(vs, EVENTS["one model"]), values
        )
    )


# -- valid events of any shape decode to their values ------------------------------------------
printable = st.text(st.characters(exclude_categories=("Cc", "Cs")), min_size=1)
ids = printable.filter(lambda t: len(t) <= MAX_ID_CHARS)
category = st.one_of(
    printable.filter(lambda t: len(t) <= MAX_VALUE_CHARS),
    st.integers(-(2**63), 2**63 - 1),
    st.booleans(),
    st.none(),
)
valid_events = st.fixed_dictionaries(
    {
        "model_id": st.just("m"),
        "model_version": ids,
        "prediction_id": ids,
        "timestamp": st.integers(0, 253_402_300_799_999),
        "features": st.fixed_dictionaries(
            {},
            optional={
                "x": st.floats(allow_nan=False, allow_infinity=False) | st.none(),
                "c": category,
            },
        ),
        "score": st.floats(0, 1) | st.none(),
        "segments": st.none()
        | st.dictionaries(
            printable.filter(lambda t: len(t) <= MAX_SEGMENT_KEY_CHARS),
            printable.filter(lambda t: len(t) <= MAX_SEGMENT_VALUE_CHARS),
            max_size=3,
        ),
    },
    optional={"prediction": category},
)


@FUZZ
@given(events=st.lists(valid_events, min_size=1, max_size=10))
def test_valid_events_decode_to_their_values(events: list[dict[str, Any]]) -> None:
    out = EVENTS["one model"].decode_values([dump(e) for e in events])
    assert out.errors == [] and out.count == len(events)
    b = out.batches["m"]
    assert b.versions == [e["model_version"] for e in events]
    assert b.prediction_ids == [e["prediction_id"] for e in events]
    assert b.timestamps.tolist() == [e["timestamp"] for e in events]
    assert b.categorical[0] == [e["features"].get("c") for e in events]
    assert b.categorical[1] == [e.get("prediction") for e in events]
    xs = [e["features"].get("x") for e in events]
    assert [None if math.isnan(v) else v for v in b.numeric[:, 0].tolist()] == xs
    assert (b.segments or [None] * len(events)) == [e["segments"] for e in events]
    assert rows(EVENTS["one model"].decode_lines(jsonl([dump(e) for e in events]))) == rows(out)
