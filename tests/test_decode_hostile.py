"""Hostile messages through every decoder: each is a bad event with a precise reason, none
raises, and its good neighbours decode exactly as they would alone (issue 11).

Reproduced on main before the fix: a tombstone raised TypeError; ``{"a":`` x 20,000 and
``[`` x 200,000 raised RecursionError (and ``monitor replay`` exited 1); timestamps NaN,
+-Infinity, 1e300 and 2**64 - 1 raised ValueError/OverflowError for the whole batch; a model_version
of 300 characters, or with a NUL, was accepted (and failed the checkpoint on PostgreSQL); an
event without ``model_id`` was taken as the only model's; ``{"model_id": [1]}`` raised TypeError;
blank lines were skipped uncounted; a lone surrogate (``"\\ud800"`` from Python's json) passed.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any
from unittest.mock import patch

import fastavro
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import String

import monitor.pipeline.files as replay_module
from monitor.cli import main
from monitor.config import parse_config
from monitor.events import MAX_TIMESTAMP_MS, MIN_TIMESTAMP_MS, REASONS, EventDecoder, LabelDecoder
from monitor.kafka.avro import (
    AVRO_REASONS,
    AvroDecoder,
    parsed_schema,
    registry_client,
    schema_text,
)
from monitor.layout import Layout
from monitor.limits import (
    MAX_ID_CHARS,
    MAX_POPULATION_CHARS,
    MAX_SEGMENT_CHARS,
    MAX_SEGMENT_KEY_CHARS,
    MAX_SEGMENT_VALUE_CHARS,
    MAX_SUBJECT_CHARS,
    MAX_VALUE_CHARS,
)
from monitor.pipeline.files import replay
from monitor.reference import ReferenceProfile
from monitor.store import Store, schema
from monitor.synth import (
    FeatureSpec,
    StreamSpec,
    generate,
    labels_to_jsonl,
    reference_rows,
    to_jsonl,
)
from tests.decode_kit import (
    CFG,
    EVENT,
    LABEL,
    MODEL,
    REGRESSION,
    TWO_MODELS,
    avro,
    avro_event,
    check,
    dump,
    event,
    jsonl,
    label,
)
from tests.helpers import rows_of

ROOT = Path(__file__).resolve().parents[1]
EVENTS = EventDecoder(CFG)
LABELS = LabelDecoder(CFG)


def events(values: list[Any]) -> dict[int, str]:
    return check(EVENTS.decode_values, values)


def labels(values: list[Any]) -> dict[int, str]:
    return check(LABELS.decode_values, values)


# -- null values and empty messages ----------------------------------------------------------------
def test_a_tombstone_is_a_null_value_in_every_decoder() -> None:
    assert events([event(), None, event(prediction_id="p2")]) == {1: "null_value"}
    assert labels([None, label()]) == {0: "null_value"}
    assert check(
        lambda vs: AvroDecoder().decode_events(vs, EVENTS), [avro(avro_event()), None]
    ) == {1: "null_value"}
    registry = registry_client("mock://tombstones")
    from confluent_kafka.schema_registry import Schema

    schema_id = registry.register_schema("p-value", Schema(schema_text("prediction"), "AVRO"))
    framed = b"\x00" + schema_id.to_bytes(4, "big") + avro(avro_event())
    decoder = AvroDecoder(registry=registry)
    assert check(lambda vs: decoder.decode_events(vs, EVENTS), [None, framed, b""]) == {
        0: "null_value",
        2: "empty",
    }


@pytest.mark.parametrize("blank", [b"", b"   ", b"\t", b"\r"])
def test_an_empty_message_is_empty(blank: bytes) -> None:
    assert events([event(), blank]) == {1: "empty"}
    assert labels([blank, label()]) == {0: "empty"}


def test_blank_lines_are_empty_events_at_their_line_index() -> None:
    data = (
        b"\n"
        + event()
        + b"\n  \n"
        + event(prediction_id="p2")
        + b"\r\n\r\n"
        + event(prediction_id="p3")
    )
    out = EVENTS.decode_lines(data)
    assert out.count == 6 and out.batches["m"].positions.tolist() == [1, 3, 5]
    assert [(e.position, e.reason) for e in out.errors] == [
        (0, "empty"),
        (2, "empty"),
        (4, "empty"),
    ]
    out = LABELS.decode_lines(label() + b"\n\n" + label(prediction_id="p2") + b"\n")
    assert out.count == 3 and out.batches["m"].positions.tolist() == [0, 2]
    assert [(e.position, e.reason) for e in out.errors] == [(1, "empty")]
    assert EVENTS.decode_lines(b"").count == 0 and EVENTS.decode_lines(event() + b"\n").count == 1


def test_a_line_holding_two_events_is_invalid_json() -> None:
    # msgspec's decode_lines would read two events; one event per line is the contract
    out = EVENTS.decode_lines(event() + b" " + event() + b"\n" + event() + b"\n")
    assert [(e.position, e.reason) for e in out.errors] == [(0, "invalid_json")]
    assert out.batches["m"].positions.tolist() == [1]


# -- depth -----------------------------------------------------------------------------------------
DEEP = {
    "object": b'{"a":' * 20_000,
    "array": b"[" * 200_000,
    "closed": b"[" * 5_000 + b"]" * 5_000,
    "in an unknown field": event()[:-1] + b', "extra": ' + b"[" * 5_000 + b"]" * 5_000 + b"}",
}


@pytest.mark.parametrize("name", DEEP)
def test_json_nested_too_deep_is_too_deep_without_recursing_in_python(
    name: str, monkeypatch
) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("json.loads must not see it: msgspec already said too deep")

    monkeypatch.setattr(json, "loads", refuse)
    assert events([event(), DEEP[name]]) == {1: "too_deep"}
    assert labels([DEEP[name]]) == {0: "too_deep"}
    assert check(lambda lines: EVENTS.decode_lines(jsonl(lines)), [event(), DEEP[name]]) == {
        1: "too_deep"
    }


def test_deep_json_after_a_nan_is_too_deep() -> None:
    # NaN sends the message to Python's json (which reads it), and that one recurses
    deep = b'{"model_id": "m", "x": NaN, "y": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    assert events([deep, event()]) == {0: "too_deep"}


# -- timestamps ------------------------------------------------------------------------------------
BAD_TIMESTAMPS = [
    (float("nan"), "bad_timestamp"),
    (float("inf"), "bad_timestamp"),
    (float("-inf"), "bad_timestamp"),
    ("yesterday", "bad_timestamp"),
    ("2026-13-01T00:00:00Z", "bad_timestamp"),
    ("10000-01-01T00:00:00Z", "bad_timestamp"),
    (None, "bad_timestamp"),
    ([1], "bad_timestamp"),
    (1e300, "timestamp_out_of_range"),
    (18446744073709551615, "timestamp_out_of_range"),
    (-9223372036854775808, "timestamp_out_of_range"),
    (10**4000, "timestamp_out_of_range"),
    (-1, "timestamp_out_of_range"),
    (MAX_TIMESTAMP_MS + 1, "timestamp_out_of_range"),
    ("1969-12-31T23:59:59.999Z", "timestamp_out_of_range"),
]


@pytest.mark.parametrize(
    ("value", "reason"), BAD_TIMESTAMPS, ids=[repr(v)[:30] for v, _ in BAD_TIMESTAMPS]
)
def test_a_timestamp_out_of_the_contract_is_refused_with_its_reason(
    value: Any, reason: str
) -> None:
    good = [event(prediction_id=f"g{i}", timestamp=1_767_225_600_000 + i) for i in range(3)]
    assert events([good[0], event(timestamp=value), *good[1:]]) == {1: reason}
    assert labels([label(timestamp=value), label()]) == {0: reason}
    if isinstance(value, float):  # as an Avro double (another writer schema) would give it
        decoded = EVENTS.decode_objects([{**EVENT, "timestamp": value}, EVENT])
        assert [(e.position, e.reason) for e in decoded.errors] == [(0, reason)]


def test_out_of_range_details_give_the_value_and_the_bounds() -> None:
    detail = EVENTS.decode_values([event(timestamp=10**15)]).errors[0].detail
    assert (
        "1000000000000000" in detail
        and str(MIN_TIMESTAMP_MS) in detail
        and str(MAX_TIMESTAMP_MS) in detail
    )
    assert "9999-12-31T23:59:59.999Z" in detail


@pytest.mark.parametrize(
    ("value", "ms"),
    [
        (MIN_TIMESTAMP_MS, 0),
        (MAX_TIMESTAMP_MS, MAX_TIMESTAMP_MS),
        ("1970-01-01T00:00:00Z", 0),
        ("9999-12-31T23:59:59.999Z", MAX_TIMESTAMP_MS),
        ("2026-01-01T01:00:00+01:00", 1_767_225_600_000),
        (1.9, 1),
        (-0.5, 0),
    ],
)
def test_the_bounds_are_inclusive_and_floats_truncate(value: Any, ms: int) -> None:
    out = EVENTS.decode_values([event(timestamp=value)])
    assert not out.errors and out.batches["m"].timestamps.tolist() == [ms]


def test_many_bad_timestamps_in_a_batch_cost_only_themselves() -> None:
    values = [event(prediction_id=f"p{i}", timestamp=1_767_225_600_000 + i) for i in range(1000)]
    bad = {7: float("nan"), 100: 10**15, 555: "2026-01-01", 999: -5}
    for i, ts in bad.items():
        values[i] = event(prediction_id=f"p{i}", timestamp=ts)
    assert set(events(values)) == set(bad)


# -- ids and text against the schema's limits ------------------------------------------------------
def _with(field: str, text: str) -> tuple[bytes, str]:
    """An event or label whose ``field`` is ``text``, and the name a detail gives the field."""
    if field == "segments key":
        return event(segments={text: "eu"}), "segments"
    if field == "segments value":
        return event(segments={"region": text}), "segments"
    if field == "category":
        return event(features={"x": 1.0, "c": text}), "features.c"
    if field == "label":
        return label(label=text), "label"
    if field == "label prediction_id":
        return label(prediction_id=text), "prediction_id"
    return event(**{field: text}), field


LIMITS = {
    "model_version": MAX_ID_CHARS,
    "prediction_id": MAX_ID_CHARS,
    "label prediction_id": MAX_ID_CHARS,
    "segments key": MAX_SEGMENT_KEY_CHARS,
    "segments value": MAX_SEGMENT_VALUE_CHARS,
    "category": MAX_VALUE_CHARS,
    "prediction": MAX_VALUE_CHARS,
    "label": MAX_VALUE_CHARS,
}


def _decode(field: str, values: list[bytes]) -> dict[int, str]:
    return labels(values) if field.startswith("label") else events(values)


@pytest.mark.parametrize("field", LIMITS)
def test_text_longer_than_the_schema_holds_is_field_too_long(field: str) -> None:
    limit = LIMITS[field]
    at_limit, _ = _with(field, "é" * limit)  # characters, not bytes
    too_long, name = _with(field, "x" * (limit + 1))
    assert _decode(field, [at_limit, too_long]) == {1: "field_too_long"}
    decoder = LABELS if field.startswith("label") else EVENTS
    detail = decoder.decode_values([too_long]).errors[0].detail
    assert name in detail and str(limit) in detail


@pytest.mark.parametrize("field", LIMITS)
@pytest.mark.parametrize("char", ["\x00", "\x1f", "\n", "\x7f", "\x85", chr(0xD800), chr(0xDFFF)])
def test_control_characters_and_surrogates_are_invalid_characters(field: str, char: str) -> None:
    value, name = _with(field, f"a{char}b")
    assert _decode(field, [value]) == {0: "invalid_characters"}
    decoder = LABELS if field.startswith("label") else EVENTS
    assert f"U+{ord(char):04X}" in decoder.decode_values([value]).errors[0].detail
    assert name in decoder.decode_values([value]).errors[0].detail


@pytest.mark.parametrize("field", LIMITS)
@pytest.mark.parametrize("text", ["café", "東京", "👩\u200d💻", "a\u00a0b", "<!channel>"])
def test_printable_unicode_is_welcome(field: str, text: str) -> None:
    value, _ = _with(field, text)
    assert _decode(field, [value]) == {}


def test_a_surrogate_in_a_parsed_object_is_invalid_characters() -> None:
    # msgspec's lax conversion encodes a string to read a number or a time from it
    objects = [
        {**EVENT, "timestamp": "\ud800"},
        EVENT,
        {**EVENT, "model_version": "\udc00"},
        {**EVENT, "features": {"x": "\ud800"}},
    ]
    assert check(EVENTS.decode_objects, objects) == {
        0: "invalid_characters",
        2: "invalid_characters",
        3: "invalid_characters",
    }


def test_a_bad_id_in_an_avro_record_is_refused_too() -> None:
    values = [
        avro(avro_event(model_version="v\x00")),
        avro(avro_event()),
        avro(avro_event(prediction_id="p" * 201)),
    ]
    reasons = check(lambda vs: AvroDecoder().decode_events(vs, EVENTS), values)
    assert reasons == {0: "invalid_characters", 2: "field_too_long"}


@pytest.mark.parametrize(
    ("prediction", "reason"),
    [
        (10**199, None),
        (-(10**198), None),
        (10**200, "field_too_long"),
        (-(10**199), "field_too_long"),
        (1e250, "field_too_long"),
        (1e15, None),
        (1.5, None),
        (True, None),
    ],
)
def test_a_number_as_a_category_must_spell_within_the_limit(
    prediction: Any, reason: str | None
) -> None:
    assert events([event(prediction=prediction)]) == ({0: reason} if reason else {})
    if not isinstance(prediction, float):  # a classification label is a string, an int or a bool
        assert labels([label(label=prediction)]) == ({0: reason} if reason else {})


def test_a_regression_label_must_be_a_finite_number() -> None:
    decoder = LabelDecoder(REGRESSION)
    values = [
        dump({**LABEL, "model_id": "r", "label": v}) for v in (1.5, float("nan"), float("inf"), 2)
    ]
    assert check(decoder.decode_values, values) == {1: "wrong_type", 2: "wrong_type"}


# -- the model tag ---------------------------------------------------------------------------------
@pytest.mark.parametrize("config", [CFG, TWO_MODELS], ids=["one model", "two models"])
def test_an_event_without_model_id_is_missing_model_id(config) -> None:
    untagged = dump({k: v for k, v in EVENT.items() if k != "model_id"})
    assert check(EventDecoder(config).decode_values, [event(), untagged]) == {1: "missing_model_id"}
    decoded = EventDecoder(config).decode_objects(
        [EVENT, {k: v for k, v in EVENT.items() if k != "model_id"}]
    )
    assert [(e.position, e.reason) for e in decoded.errors] == [(1, "missing_model_id")]
    untagged = dump({k: v for k, v in LABEL.items() if k != "model_id"})
    assert check(LabelDecoder(config).decode_values, [untagged]) == {0: "missing_model_id"}


@pytest.mark.parametrize("model_id", [[1], {"a": 1}, 5, None, "", "\x00", "x" * 10_000])
def test_a_model_id_that_is_not_a_configured_name_is_unknown_model(model_id: Any) -> None:
    assert events([event(model_id=model_id), event()]) == {0: "unknown_model"}
    assert labels([label(model_id=model_id)]) == {0: "unknown_model"}
    assert len(EVENTS.decode_values([event(model_id=model_id)]).errors[0].detail) < 200


# -- the list of reasons, and the schema -----------------------------------------------------------
def test_every_reason_the_code_gives_is_in_reasons_and_documented() -> None:
    assert len(set(REASONS)) == len(REASONS) and set(AVRO_REASONS) <= set(REASONS)
    source = "\n".join(p.read_text() for p in (ROOT / "monitor").rglob("*.py"))
    given = set(re.findall(r'(?:BadEvent\([^,()]+,|Fault\()\s*"([a-z_]+)"', source))
    assert given and given <= set(REASONS), given - set(REASONS)
    docs = (ROOT / "docs" / "events.md").read_text()
    section = docs.split("## What happens to bad input", 1)[1]
    table = next(block for block in section.split("\n\n") if block.startswith("| input"))
    documented = set(
        re.findall(r"`([a-z_]+)`", "\n".join(line.split("|")[-2] for line in table.splitlines()))
    )
    assert documented == set(REASONS), documented ^ set(REASONS)


def test_the_schema_sizes_its_columns_by_the_shared_limits() -> None:
    sizes = {
        (table.name, column.name): column.type.length
        for table in schema.metadata.tables.values()
        for column in table.columns
        if isinstance(column.type, String)
    }
    for (table, column), length in sizes.items():
        if (table, column) == ("panes", "model_version"):  # a population: version + segment
            assert length == MAX_POPULATION_CHARS
        elif column in ("model_id", "model_version", "prediction_id"):
            assert length == MAX_ID_CHARS, (table, column)
        if (table, column) in (("join_records", "prediction"), ("join_records", "label")):
            assert length == MAX_VALUE_CHARS
        if column == "segment":
            assert length == MAX_SEGMENT_CHARS, table
        if column == "subject":  # a feature, or "key=value/feature"
            assert length == MAX_SUBJECT_CHARS, table


# -- end to end: replay, on SQLite and PostgreSQL --------------------------------------------------
SPEC = StreamSpec(
    features=(FeatureSpec("x", "numeric"), FeatureSpec("c", "categorical", levels=4)),
    model_id="m",
    model_version="v1",
    interval_ms=50,
    seed=5,
)
STREAM = 6_000
WINDOWED = parse_config(
    {
        "checkpoint_interval": 0,
        "models": {"m": {**MODEL, "window": "1m", "reference": {"baseline_events": 0}}},
    }
)


def _store(url: str, positive: Any = 1) -> Store:
    """A store with a reference for every version of model m (class 1 spelled ``positive``)."""
    store = Store(url)
    store.upgrade()
    rows = rows_of(reference_rows(SPEC, 3_000))
    rows["prediction"] = [positive if v == 1 else v for v in rows["prediction"]]
    store.save_reference(
        ReferenceProfile.build("m", "*", Layout.from_model(WINDOWED.models["m"]), rows, 50)
    )
    return store


POISON = [
    b"",
    b"   ",
    b"null",
    b"not json",
    b'{"a":' * 20_000,
    b"[" * 200_000,
    event(timestamp=float("nan")),
    event(timestamp=float("inf")),
    event(timestamp=1e300),
    event(timestamp=18446744073709551615),
    event(timestamp=-9223372036854775808),
    event(timestamp="2100-13-01"),
    event(model_version="v" * 300),
    event(model_version="v\x00"),
    event(prediction_id="p\ud800"),
    event(segments={"region": "e\nu"}),
    event(features={"x": 1, "c": "c" * 201}),
    event(prediction=1e250),
    dump({k: v for k, v in EVENT.items() if k != "model_id"}),
    event(model_id=[1]),
]


def test_a_replayed_file_with_every_poison_keeps_the_clean_windows(
    db_url: str, tmp_path: Path
) -> None:
    lines = to_jsonl(SPEC, generate(SPEC, STREAM)).splitlines()
    clean_file, poisoned_file = tmp_path / "clean.jsonl", tmp_path / "poisoned.jsonl"
    clean_file.write_bytes(b"\n".join(lines) + b"\n")
    at = {100 + 250 * k: p for k, p in enumerate(POISON)}  # line index -> poison
    out = list(lines)
    for i in sorted(at):
        out.insert(i, at[i])
    poisoned_file.write_bytes(b"\n".join(out) + b"\n")

    clean_store = _store(f"sqlite:///{tmp_path / 'clean.db'}")
    replay(WINDOWED, clean_store, [clean_file])
    store = _store(db_url)
    dead = io.BytesIO()
    report = replay(WINDOWED, store, [poisoned_file], dead_letters=dead)
    assert report.events == STREAM and sum(report.invalid.values()) == len(POISON)
    letters = [json.loads(line) for line in dead.getvalue().splitlines()]
    assert [d["line"] for d in letters] == [i + 1 for i in sorted(at)]
    assert all(d["reason"] in REASONS and d["reason"] != "wrong_type" for d in letters), letters
    assert store.windows("m") == clean_store.windows("m") and store.summaries(
        "m"
    ) == clean_store.summaries("m")
    assert len(store.windows("m")) > 10  # the stream closed windows
    clean_store.engine.dispose()
    store.engine.dispose()


def test_values_at_the_limits_are_stored(db_url: str, tmp_path: Path) -> None:
    """What the decoder lets through, the database takes (PostgreSQL's VARCHARs included): ids,
    a class name (as prediction and label) and segments at their limits."""
    cols = generate(SPEC, 3_000)
    version, long_id, positive = "v" * MAX_ID_CHARS, "é" * (MAX_ID_CHARS - 5), "p" * MAX_VALUE_CHARS
    predictions = [json.loads(line) for line in to_jsonl(SPEC, cols).splitlines()]
    for i, e in enumerate(predictions):
        e.update(model_version=version, prediction_id=f"{long_id}{i:05d}")
        e.update(prediction=positive if e["prediction"] == 1 else 0)
        e["segments"] = {"region": "s" * MAX_SEGMENT_VALUE_CHARS, "k" * MAX_SEGMENT_KEY_CHARS: "x"}
    outcomes = [json.loads(line) for line in labels_to_jsonl(SPEC, cols).splitlines()]
    for i, e in enumerate(outcomes):
        e.update(prediction_id=f"{long_id}{i:05d}", label=positive if e["label"] == 1 else 0)
    (tmp_path / "e.jsonl").write_bytes(b"".join(dump(e) + b"\n" for e in predictions))
    (tmp_path / "l.jsonl").write_bytes(b"".join(dump(e) + b"\n" for e in outcomes))
    store = _store(db_url, positive)
    report = replay(WINDOWED, store, [tmp_path / "e.jsonl"], labels=[tmp_path / "l.jsonl"])
    assert not report.invalid and report.events == report.labels == 3_000
    assert {w["model_version"] for w in store.windows("m")} == {version}
    store.engine.dispose()


@settings(max_examples=200, deadline=None)
@given(
    data=st.binary(max_size=300).map(lambda b: b.replace(b"\x00", b"\n")), block=st.integers(1, 40)
)
def test_the_replay_reader_cuts_whole_lines(data: bytes, block: int) -> None:
    # each block copied before the next is read: the reader reuses its buffer
    with patch.object(replay_module, "_BLOCK", block):
        blocks = [bytes(b) for b in replay_module.jsonl_blocks(io.BytesIO(data))]
    assert b"".join(blocks) == data and all(b.endswith(b"\n") for b in blocks[:-1])
    assert not blocks or blocks[-1].endswith(b"\n") == data.endswith(b"\n")


@pytest.mark.parametrize("damage", ["truncated", "not avro"])
def test_a_replayed_avro_file_that_breaks_off_costs_its_rest(damage: str, tmp_path: Path) -> None:
    records = [
        {**json.loads(line), "scores": None, "segments": None}
        for line in to_jsonl(SPEC, generate(SPEC, 20_000)).splitlines()
    ]
    buf = io.BytesIO()
    fastavro.writer(buf, parsed_schema("prediction"), records, sync_interval=16_000)
    data = buf.getvalue()
    path = tmp_path / "events.avro"
    path.write_bytes(data[: len(data) // 2] if damage == "truncated" else b"not an avro file")
    dead = io.BytesIO()
    report = replay(WINDOWED, _store(f"sqlite:///{tmp_path / 'm.db'}"), [path], dead_letters=dead)
    assert report.invalid == {"avro_decode": 1} and (
        0 < report.events < 10_000 if damage == "truncated" else report.events == 0
    )
    [letter] = [json.loads(line) for line in dead.getvalue().splitlines()]
    assert letter["offset"] == report.events and letter["event"] is None
    assert (
        f"unreadable after {report.events} records" in letter["detail"]
        and "the rest of the file is lost" in letter["detail"]
    )


def test_monitor_replay_of_a_deep_line_exits_0_with_its_dead_letter(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    _store(f"sqlite:///{db}").engine.dispose()
    config = tmp_path / "monitor.yaml"
    config.write_text(
        json.dumps({**WINDOWED.model_dump(mode="json"), "database_url": f"sqlite:///{db}"})
    )
    lines = to_jsonl(SPEC, generate(SPEC, 2_000)).splitlines(keepends=True)
    path = tmp_path / "events.jsonl"
    path.write_bytes(
        b"".join(lines[:500])
        + b"[" * 200_000
        + b"\n"
        + b'{"a":' * 20_000
        + b"\n"
        + b"".join(lines[500:])
    )
    dead = tmp_path / "dead.jsonl"
    result = CliRunner().invoke(
        main, ["replay", "-c", str(config), "--no-progress", "--dead-letters", str(dead), str(path)]
    )
    assert result.exit_code == 0, result.output
    letters = [json.loads(line) for line in dead.read_text().splitlines()]
    assert [(d["line"], d["reason"]) for d in letters] == [(501, "too_deep"), (502, "too_deep")]
