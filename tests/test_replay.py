"""The files feeder (``monitor replay``) end to end: seeded JSONL and Avro files into real
SQLite and PostgreSQL.

One uninterrupted replay of the seeded stream (into SQLite, once per session) is the expected
result; every other way of feeding the same events (twice, split into files, interrupted and
resumed, as Avro, on PostgreSQL) must persist exactly the same rows.

The stream: 30,000 events 20 ms apart (10 minutes, five tumbling 2-minute windows), three
numeric features and one categorical, with ``num_02`` shifted by one standard deviation from
event 15,000 (the middle of the third window) on.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path
from typing import Any

import fastavro
import msgspec
import numpy as np
import pytest

from monitor.config import Config, parse_config
from monitor.layout import Layout
from monitor.pipeline.files import JOB, SOURCE, replay
from monitor.reference import ReferenceProfile
from monitor.store import Store
from monitor.synth import (
    Columns,
    DriftSpec,
    FeatureSpec,
    StreamSpec,
    generate,
    reference_rows,
    to_jsonl,
)

N = 30_000
WINDOW_MS = 120_000
DRIFT_AT = 15_000
FEATURES = (
    FeatureSpec("num_00", "numeric"),
    FeatureSpec("num_01", "numeric", missing_rate=0.05),
    FeatureSpec("num_02", "numeric"),
    FeatureSpec("color", "categorical", levels=5),
)
SPEC = StreamSpec(
    features=FEATURES,
    model_id="fraud",
    model_version="v1",
    interval_ms=20,
    drift=(DriftSpec("num_02", 1.0, DRIFT_AT),),
    seed=11,
)
T0 = SPEC.start_ms


def config(**model: Any) -> Config:
    top = {"checkpoint_interval": model.pop("checkpoint_interval", 0)}
    body = {
        "window": "2m",
        "features": {f.name: {"kind": f.kind} for f in FEATURES},
        "reference": {"fine_bins": 200, "baseline_events": 0},
        **model,
    }
    return parse_config({**top, "models": {"fraud": body}})


CFG = config()


def rows_of(cols: Columns) -> dict[str, Any]:
    rows: dict[str, Any] = {n: cols.numeric[:, j] for j, n in enumerate(cols.numeric_names)}
    rows.update({n: c.tolist() for n, c in zip(cols.categorical_names, cols.categorical)})
    rows["score"] = cols.score
    rows["prediction"] = cols.prediction.tolist()
    return rows


REFERENCE = ReferenceProfile.build(
    "fraud", "*", Layout.from_model(CFG.models["fraud"]), rows_of(reference_rows(SPEC, 5000)), 200
)


def new_store(url: str, reference: bool = True) -> Store:
    store = Store(url)
    store.upgrade()
    if reference:
        store.save_reference(REFERENCE)
    return store


def snapshot(store: Store) -> tuple[list, list, dict]:
    return store.windows("fraud"), store.summaries("fraud"), store.late_counts("fraud")


def lines_of(data: bytes) -> list[bytes]:
    return data.splitlines(keepends=True)


class Crash(Exception):
    pass


def crash_on(call: int):
    """A progress callback that raises on its ``call``-th invocation: the replay dies before it
    processes that block, after the checkpoints of the blocks before it."""
    calls = [0]

    def progress(nbytes: int) -> None:
        calls[0] += 1
        if calls[0] == call:
            raise Crash

    return progress


@pytest.fixture(scope="session")
def stream(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("stream") / "events.jsonl"
    path.write_bytes(to_jsonl(SPEC, generate(SPEC, N)))
    return path


@pytest.fixture(scope="session")
def expected(stream: Path, tmp_path_factory) -> tuple[list, list, dict]:
    """The rows of one uninterrupted replay."""
    store = new_store(f"sqlite:///{tmp_path_factory.mktemp('expected') / 'expected.db'}")
    replay(CFG, store, [stream])
    rows = snapshot(store)
    store.engine.dispose()
    return rows


@pytest.fixture
def fresh(db_url: str) -> Iterator[Store]:
    store = new_store(db_url)
    yield store
    store.engine.dispose()


@pytest.fixture
def sqlite_store(sqlite_url: str) -> Iterator[Store]:
    store = new_store(sqlite_url)
    yield store
    store.engine.dispose()


# -- windows ------------------------------------------------------------------------------------
def test_a_replay_persists_the_windows_of_the_stream(fresh: Store, stream: Path, expected):
    report = replay(CFG, fresh, [stream])
    assert report.events == N and not report.invalid and report.seconds > 0 and report.rate > 0
    assert [(w.start_ms, w.end_ms) for w in report.windows] == [
        (T0 + k * WINDOW_MS, T0 + (k + 1) * WINDOW_MS) for k in range(5)
    ]
    assert [w.dataset.events for w in report.windows] == [6000] * 5

    rows = fresh.windows("fraud")
    assert len(rows) == 5 * 6  # four features, score and prediction
    by = {(r["feature"], r["window_start"]): r for r in rows}
    assert {r["feature"] for r in rows} == {
        "num_00",
        "num_01",
        "num_02",
        "color",
        "score",
        "prediction",
    }
    assert all(
        r["count"] == 6000 and r["model_version"] == "v1" and r["reference_version"] == 1
        for r in rows
    )
    assert all(r["missing"] == 0 for r in rows if r["feature"] != "num_01")
    assert 200 < sum(r["missing"] for r in rows if r["feature"] == "num_01") / 5 < 400
    # num_02 drifts from the middle of the third window on; num_00, num_01 and color never
    assert [by["num_02", T0 + k * WINDOW_MS]["drift"] for k in range(5)] == [
        False,
        False,
        True,
        True,
        True,
    ]
    assert by["num_02", T0 + 4 * WINDOW_MS]["severity"] == "critical"
    assert by["num_02", T0 + 4 * WINDOW_MS]["statistics"]["psi"] > 0.25
    assert not any(r["drift"] for r in rows if r["feature"] in ("num_00", "num_01", "color"))
    assert [s["drifted_features"] for s in fresh.summaries("fraud")] == [
        [],
        [],
        ["num_02"],
        ["num_02"],
        ["num_02"],
    ]
    # PostgreSQL and SQLite hold the very same values
    assert snapshot(fresh) == expected
    state = fresh.load_state(JOB)
    assert state.offsets == {SOURCE: N} and state.panes == {}


def test_a_replay_that_keeps_no_windows_hands_each_to_its_callback_once(
    sqlite_store: Store, stream: Path, expected
):
    # what `monitor replay` does, so that its memory does not grow with the windows it closes
    seen: list[Any] = []
    report = replay(CFG, sqlite_store, [stream], keep_windows=False, on_windows=seen.extend)
    assert report.windows == [] and report.closed == 5
    assert [(w.start_ms, w.dataset.events) for w in seen] == [
        (T0 + k * WINDOW_MS, 6000) for k in range(5)
    ]
    assert snapshot(sqlite_store) == expected


def test_replaying_the_same_file_twice_rewrites_identical_rows(
    fresh: Store, stream: Path, expected
):
    replay(CFG, fresh, [stream])
    first = snapshot(fresh)
    again = replay(CFG, fresh, [stream])
    assert again.events == N and len(again.windows) == 5
    assert snapshot(fresh) == first == expected


@pytest.mark.parametrize(
    "cuts", [(12_345,), (1, 29_999), (4_000, 15_000, 20_001)], ids=["middle", "edges", "three"]
)
def test_a_file_split_in_parts_replays_as_one_stream(
    sqlite_store: Store, stream: Path, expected, tmp_path, cuts
):
    lines = lines_of(stream.read_bytes())
    bounds = [0, *cuts, N]
    paths = []
    for i, (a, b) in enumerate(pairwise(bounds)):
        part = b"".join(lines[a:b])
        if i == len(bounds) - 2:
            part = part.rstrip(b"\n")  # the last part without a final newline
        paths.append(tmp_path / f"part{i}.jsonl")
        paths[-1].write_bytes(part)
    report = replay(CFG, sqlite_store, paths)
    assert report.events == N
    assert snapshot(sqlite_store) == expected


def test_blank_lines_are_empty_dead_letters_and_change_nothing(
    sqlite_store: Store, stream: Path, expected, tmp_path
):
    lines = lines_of(stream.read_bytes())
    path = tmp_path / "blank.jsonl"
    path.write_bytes(b"\n" + b"".join(lines[:100]) + b"\n   \n" + b"".join(lines[100:]) + b"\n\n")
    dead = io.BytesIO()
    report = replay(CFG, sqlite_store, [path], dead_letters=dead)
    assert report.events == N and report.invalid == {"empty": 5}
    letters = [json.loads(line) for line in dead.getvalue().splitlines()]
    assert [(d["line"], d["reason"], d["event"]) for d in letters] == [
        (1, "empty", ""),
        (102, "empty", ""),
        (103, "empty", "   "),
        (N + 4, "empty", ""),
        (N + 5, "empty", ""),
    ]
    assert [d["offset"] for d in letters] == [d["line"] - 1 for d in letters]  # one file: line - 1
    assert snapshot(sqlite_store) == expected


# -- interrupted replays ------------------------------------------------------------------------
def test_resume_after_a_crash_equals_an_uninterrupted_replay(fresh: Store, stream: Path, expected):
    with pytest.raises(Crash):
        replay(CFG, fresh, [stream], progress=crash_on(2))
    done = fresh.load_state(JOB).offsets[SOURCE]
    assert 0 < done < N  # the first block was checkpointed, the rest never read
    partial = fresh.windows("fraud")
    assert 0 < len(partial) < len(expected[0]) and partial == expected[0][: len(partial)]

    report = replay(CFG, fresh, [stream], resume=True)
    assert report.events == N - done
    assert snapshot(fresh) == expected


def test_resume_after_several_crashes_with_small_blocks(
    sqlite_store: Store, stream: Path, expected, monkeypatch
):
    monkeypatch.setattr("monitor.pipeline.files._BLOCK", 150_000)  # ~50 blocks instead of 2
    offsets = []
    for crash_at in (4, 11, 30):
        with pytest.raises(Crash):
            replay(CFG, sqlite_store, [stream], resume=bool(offsets), progress=crash_on(crash_at))
        offsets.append(sqlite_store.load_state(JOB).offsets[SOURCE])
    assert offsets == sorted(offsets) and offsets[0] > 0
    replay(CFG, sqlite_store, [stream], resume=True)
    assert snapshot(sqlite_store) == expected


def test_a_crash_before_the_first_checkpoint_loses_nothing(
    sqlite_store: Store, stream: Path, expected
):
    slow = config(checkpoint_interval="1h")
    with pytest.raises(Crash):
        replay(slow, sqlite_store, [stream], progress=crash_on(2))
    assert sqlite_store.load_state(JOB).offsets == {} and sqlite_store.windows("fraud") == []
    report = replay(slow, sqlite_store, [stream], resume=True)
    assert report.events == N
    assert snapshot(sqlite_store) == expected


def test_resume_after_a_complete_replay_changes_nothing(
    sqlite_store: Store, stream: Path, expected
):
    replay(CFG, sqlite_store, [stream])
    report = replay(CFG, sqlite_store, [stream], resume=True)
    assert report.events == 0 and report.windows == []
    assert snapshot(sqlite_store) == expected


def test_a_fresh_replay_after_a_crash_starts_over(sqlite_store: Store, stream: Path, expected):
    with pytest.raises(Crash):
        replay(CFG, sqlite_store, [stream], progress=crash_on(2))
    report = replay(CFG, sqlite_store, [stream])  # resume=False: the checkpoint is reset
    assert report.events == N and len(report.windows) == 5
    assert snapshot(sqlite_store) == expected


def test_replay_jobs_keep_separate_checkpoints(sqlite_store: Store, stream: Path, expected):
    with pytest.raises(Crash):
        replay(CFG, sqlite_store, [stream], job="a", progress=crash_on(2))
    replay(CFG, sqlite_store, [stream], job="b")
    assert sqlite_store.load_state("b").offsets == {SOURCE: N}
    done = sqlite_store.load_state("a").offsets[SOURCE]
    assert 0 < done < N
    assert replay(CFG, sqlite_store, [stream], job="a", resume=True).events == N - done
    assert snapshot(sqlite_store) == expected


# -- progress -----------------------------------------------------------------------------------
def test_progress_reports_every_byte_of_a_jsonl_file_once(sqlite_store: Store, stream: Path):
    seen: list[int] = []
    replay(CFG, sqlite_store, [stream], progress=seen.append)
    assert sum(seen) == stream.stat().st_size and len(seen) == 2


def test_progress_reports_every_byte_of_an_avro_file_once(sqlite_store: Store, avro_stream: Path):
    """The CLI sizes its progress bar by the file sizes and advances it by each report."""
    seen: list[int] = []
    replay(CFG, sqlite_store, [avro_stream], progress=seen.append)
    assert sum(seen) == avro_stream.stat().st_size


# -- bad events ---------------------------------------------------------------------------------
def _event(line: bytes) -> dict[str, Any]:
    return msgspec.json.decode(line)


def _dump(obj: Any) -> bytes:
    return json.dumps(obj).encode()


def test_bad_lines_are_counted_by_reason_and_dead_lettered_with_their_offset(
    sqlite_store: Store, stream: Path, expected, tmp_path
):
    lines = lines_of(stream.read_bytes())
    ev = _event(lines[0])
    bad = {  # inserted before the good event of that index
        10: (b'{"model_id": "fraud", oops', "invalid_json"),
        20: (_dump({**ev, "model_id": "nope"}), "unknown_model"),
        30: (_dump({k: v for k, v in ev.items() if k != "prediction_id"}), "missing_field"),
        40: (_dump({**ev, "features": {**ev["features"], "num_00": "abc"}}), "wrong_type"),
        50: (_dump({**ev, "score": "high"}), "wrong_type"),
        60: (b"[1, 2]", "not_an_object"),
        70: (_dump({**ev, "timestamp": "yesterday"}), "bad_timestamp"),
        25_000: (b"not json at all", "invalid_json"),  # in the second block
    }
    nan_at = 24_000  # num_00 of this good event becomes NaN: a missing value, not a rejection
    nan_event = _event(lines[nan_at])
    nan_line = _dump({**nan_event, "features": {**nan_event["features"], "num_00": float("nan")}})
    assert b"NaN" in nan_line

    out, offsets = [], {}
    for i, line in enumerate(lines):
        if i in bad:
            offsets[len(out)] = bad[i]
            out.append(bad[i][0] + b"\n")
        out.append(nan_line + b"\n" if i == nan_at else line)
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b"".join(out))

    dead = io.BytesIO()
    report = replay(CFG, sqlite_store, [path], dead_letters=dead)
    assert report.events == N
    assert dict(report.invalid) == {
        "invalid_json": 2,
        "unknown_model": 1,
        "missing_field": 1,
        "wrong_type": 2,
        "not_an_object": 1,
        "bad_timestamp": 1,
    }

    letters = [json.loads(line) for line in dead.getvalue().splitlines()]
    assert [(d["offset"], d["reason"]) for d in letters] == [
        (o, r) for o, (_, r) in sorted(offsets.items())
    ]
    for d in letters:
        assert d["source"] == str(path) and d["detail"]
        assert d["event"] == out[d["offset"]].rstrip(b"\n").decode()

    # every window is as if the bad lines were not there, except num_00 where the NaN is missing
    windows, summaries, late = snapshot(sqlite_store)
    assert summaries == expected[1] and late == expected[2]
    nan_window = T0 + (nan_at * SPEC.interval_ms) // WINDOW_MS * WINDOW_MS
    for got, want in zip(windows, expected[0], strict=True):
        if got["feature"] == "num_00" and got["window_start"] == nan_window:
            assert (got["count"], got["missing"]) == (want["count"], want["missing"] + 1)
        else:
            assert got == want


def test_events_without_a_reference_are_refused_and_dead_lettered_whole(
    sqlite_url: str, stream: Path, tmp_path
):
    store = new_store(sqlite_url, reference=False)
    store.save_reference(
        ReferenceProfile("fraud", "v1", REFERENCE.rows, REFERENCE.columns)
    )  # v1 only, no "*"
    lines = lines_of(stream.read_bytes())[:1000]
    lines[5] = lines[5].replace(b'"model_version":"v1"', b'"model_version":"v9"')
    path = tmp_path / "v9.jsonl"
    path.write_bytes(b"".join(lines))
    dead = io.BytesIO()
    report = replay(CFG, store, [path], dead_letters=dead)
    assert report.events == 999 and dict(report.invalid) == {"no_reference": 1}
    (letter,) = [json.loads(line) for line in dead.getvalue().splitlines()]
    assert (letter["reason"], letter["offset"]) == ("no_reference", 5)
    assert letter["event"] == lines[5].rstrip(b"\n").decode()


# -- Avro ---------------------------------------------------------------------------------------
AVRO_SCHEMA = {
    "type": "record",
    "name": "PredictionEvent",
    "fields": [
        {"name": "model_id", "type": "string"},
        {"name": "model_version", "type": "string"},
        {"name": "prediction_id", "type": "string"},
        {"name": "timestamp", "type": "long"},
        {
            "name": "features",
            "type": {
                "type": "record",
                "name": "Features",
                "fields": [
                    {
                        "name": f.name,
                        "type": ["null", "double" if f.kind == "numeric" else "string"],
                        "default": None,
                    }
                    for f in FEATURES
                ],
            },
        },
        {"name": "prediction", "type": ["null", "long"], "default": None},
        {"name": "score", "type": ["null", "double"], "default": None},
    ],
}


def _write_avro(path: Path, records: list[dict[str, Any]]) -> Path:
    with path.open("wb") as fh:
        fastavro.writer(fh, fastavro.parse_schema(AVRO_SCHEMA), records)
    return path


@pytest.fixture(scope="session")
def avro_stream(stream: Path, tmp_path_factory) -> Path:
    records = [msgspec.json.decode(line) for line in stream.read_bytes().splitlines()]
    return _write_avro(tmp_path_factory.mktemp("avro") / "events.avro", records)


def test_an_avro_file_replays_like_the_jsonl_of_the_same_events(
    fresh: Store, avro_stream: Path, expected
):
    report = replay(CFG, fresh, [avro_stream])
    assert report.events == N and not report.invalid and len(report.windows) == 5
    assert snapshot(fresh) == expected


def test_avro_and_jsonl_parts_replay_as_one_stream(
    sqlite_store: Store, stream: Path, expected, tmp_path
):
    lines = lines_of(stream.read_bytes())
    head = tmp_path / "head.avro"
    _write_avro(head, [msgspec.json.decode(line) for line in lines[:17_000]])
    tail = tmp_path / "tail.jsonl"
    tail.write_bytes(b"".join(lines[17_000:]))
    assert replay(CFG, sqlite_store, [head, tail]).events == N
    assert snapshot(sqlite_store) == expected


def test_bad_avro_records_are_counted(sqlite_store: Store, stream: Path, tmp_path):
    lines = lines_of(stream.read_bytes())[:200]
    records = [msgspec.json.decode(line) for line in lines]
    records[3]["model_id"] = "nope"
    path = _write_avro(tmp_path / "bad.avro", records)
    dead = io.BytesIO()
    report = replay(CFG, sqlite_store, [path], dead_letters=dead)
    assert report.events == 199 and dict(report.invalid) == {"unknown_model": 1}
    (letter,) = [json.loads(line) for line in dead.getvalue().splitlines()]
    assert (letter["reason"], letter["offset"], letter["source"]) == ("unknown_model", 3, str(path))


# -- late events, baselines, discrete features ---------------------------------------------------
def test_replaying_a_file_with_late_events_twice_keeps_the_late_counts(
    fresh: Store, stream: Path, tmp_path
):
    """A repeated replay rewrites the same windows with the same values; the ``late`` count of a
    window (``monitor windows``) is one of them."""
    lines = lines_of(stream.read_bytes())
    path = tmp_path / "late.jsonl"
    path.write_bytes(
        b"".join(lines[:20_000]) + lines[100] * 3 + b"".join(lines[20_000:])
    )  # 3 events of window 0, 6 minutes late
    replay(CFG, fresh, [path])
    assert fresh.late_counts("fraud") == {("v1", T0): 3}
    replay(CFG, fresh, [path])
    assert fresh.late_counts("fraud") == {("v1", T0): 3}


def test_a_baseline_replay_counts_every_event_in_a_window(sqlite_url: str, stream: Path):
    """Without a stored reference the first 25,000 events become the baseline. They span
    several windows whose end the watermark passes before the baseline is complete; they must
    still be counted in their windows, not as late."""
    store = new_store(sqlite_url, reference=False)
    cfg = config(reference={"fine_bins": 200, "baseline_events": 25_000})
    report = replay(cfg, store, [stream])
    assert report.events == N
    (ref,) = store.list_references()
    assert (ref["model_version"], ref["source"], ref["rows"]) == ("v1", "baseline", N)
    assert store.late_counts("fraud") == {}
    rows = store.windows("fraud", feature="num_00")
    assert [(r["window_start"], r["count"]) for r in rows] == [
        (T0 + k * WINDOW_MS, 6000) for k in range(5)
    ]


def test_resume_while_the_baseline_is_still_being_collected(
    sqlite_url: str, tmp_path, stream: Path
):
    """A crash while events are held for the baseline: the resumed replay must still see them
    (one 10-minute window, so no window closes before the baseline is built)."""
    cfg = config(window="10m", reference={"fine_bins": 200, "baseline_events": 25_000})
    whole = new_store(f"sqlite:///{tmp_path / 'whole.db'}", reference=False)
    replay(cfg, whole, [stream])
    interrupted = new_store(sqlite_url, reference=False)
    with pytest.raises(Crash):
        replay(cfg, interrupted, [stream], progress=crash_on(2))
    replay(cfg, interrupted, [stream], resume=True)
    assert [r["rows"] for r in interrupted.list_references()] == [N]
    assert [r["count"] for r in interrupted.windows("fraud", feature="num_00")] == [N]
    assert snapshot(interrupted) == snapshot(whole)


def test_an_undrifted_discrete_feature_shows_no_drift_against_a_stored_reference(
    sqlite_url: str, tmp_path
):
    """A numeric feature with few distinct values (a count, a rating) drawn from the same
    distribution as its stored reference."""
    cfg = parse_config(
        {
            "checkpoint_interval": 0,
            "models": {
                "m": {
                    "window": "1m",
                    "prediction": "none",
                    "score": False,
                    "features": {"d": {"kind": "numeric"}},
                    "reference": {"baseline_events": 0},
                }
            },
        }
    )
    rng = np.random.default_rng(1)
    fresh = new_store(sqlite_url, reference=False)
    fresh.save_reference(
        ReferenceProfile.build(
            "m",
            "*",
            Layout.from_model(cfg.models["m"]),
            {"d": rng.integers(0, 3, 5000).astype(float)},
        )
    )
    values = rng.integers(0, 3, 5000).tolist()
    path = tmp_path / "discrete.jsonl"
    path.write_bytes(
        b"".join(
            _dump(
                {
                    "model_id": "m",
                    "model_version": "1",
                    "prediction_id": str(i),
                    "timestamp": i * 10,
                    "features": {"d": v},
                }
            )
            + b"\n"
            for i, v in enumerate(values)
        )
    )
    replay(cfg, fresh, [path])
    (row,) = fresh.windows("m")
    assert row["count"] == 5000
    assert row["quality"]["out_of_range"] == 0.0
    assert row["statistics"]["psi"] < 0.01 and not row["drift"] and row["severity"] == "ok"


def test_the_pipeline_loads_river_and_scipy_stats_only_when_used() -> None:
    # river.drift pulls in pandas and scikit-learn, river.metrics scipy.stats: about 2 s of a
    # replay's start-up on this machine, for jobs that may have no labels at all
    code = (
        "import sys, monitor.pipeline.files, monitor.pipeline.kafka, monitor.performance\n"
        "print(sorted(m for m in ('river', 'pandas', 'sklearn', 'scipy.stats', 'scipy.optimize')"
        " if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == "[]"
