"""Event time cannot be hijacked, versions are bounded, and late drops are loud.

One event with a wrong clock used to move its source's watermark, so every later event of the
partition was dropped as late (15,000 of 15,000 in a replay). Now such an event is a dead letter
(``timestamp_out_of_range``) and good events are untouched: the windows equal a clean run's.
"""

from __future__ import annotations

import logging

import msgspec
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.config import parse_config
from monitor.event_time import FOLLOW_AFTER, OK, EventTimeGuard
from monitor.events import EventDecoder
from monitor.exceptions import ConfigError
from monitor.pipeline.closing import close, flush
from monitor.synth import generate, to_jsonl
from tests.helpers import config_for, engine_for, feed, small_spec, window_table

SPEC = small_spec(interval_ms=100)
N = 6_000


def sequential(ts: list[int], start: int | None, ahead: int, streak: int = 0) -> list[bool]:
    """The rule event by event: refused when ahead of the watermark of the admitted ones,
    unless FOLLOW_AFTER events in a row were."""
    out, mark = [], start
    for t in ts:
        bad = mark is not None and t > mark + ahead
        streak = streak + 1 if bad else 0
        if bad and streak > FOLLOW_AFTER:
            bad, streak = False, 0
        out.append(bad)
        if not bad:
            mark = t if mark is None else max(mark, t)
    return out


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.integers(0, 10_000), max_size=300),
    st.one_of(st.none(), st.integers(0, 10_000)),
    st.integers(0, 3_000),
    st.integers(0, 99),
    st.integers(1, 300),
)
def test_the_guard_equals_the_event_by_event_rule_whatever_the_batches(
    ts: list[int], start: int | None, ahead: int, streak: int, cut: int
) -> None:
    guard = EventTimeGuard(max_ahead_ms=ahead)
    refused: list[bool] = []
    mark, run = start, streak
    for i in range(0, len(ts), cut):  # batch boundaries change nothing
        part = np.array(ts[i : i + cut], np.int64)
        codes, run = guard.admit(part, mark, run)
        refused += (codes != OK).tolist()
        kept = part[codes == OK]
        if kept.size:
            mark = int(kept.max()) if mark is None else max(mark, int(kept.max()))
    assert refused == sequential(ts, start, ahead, streak)


def test_a_real_gap_in_a_file_costs_a_bounded_number_of_events() -> None:
    # A month of silence in a backfill: the first FOLLOW_AFTER events after it are dead letters
    # (counted, with the reason), then the watermark follows; nothing else is lost.
    ts = np.concatenate([np.arange(0, 1_000), np.arange(0, 5_000) + 30 * 86_400_000])
    codes, _ = EventTimeGuard(max_ahead_ms=7 * 86_400_000).admit(ts, None, 0)
    assert (codes != OK).sum() == FOLLOW_AFTER and (codes[1_000 : 1_000 + FOLLOW_AFTER] != OK).all()


def lines_with(bad: dict[int, int]) -> bytes:
    """The seeded stream with the timestamps of events ``bad`` (index -> ms) replaced."""
    events = msgspec.json.decode(
        b"[" + to_jsonl(SPEC, generate(SPEC, N)).replace(b"\n", b",").rstrip(b",") + b"]"
    )
    for i, ts in bad.items():
        events[i]["timestamp"] = ts
    return b"".join(msgspec.json.encode(e) + b"\n" for e in events)


def run(
    data: bytes, replay_guard: bool = True, window: str = "1m", **model: object
) -> tuple[dict, list, object]:
    cfg = config_for(SPEC, window=window, **model)
    engine = engine_for(SPEC, cfg, reference_size=5_000)
    if replay_guard:
        engine.clock.guard = EventTimeGuard.replay(cfg.event_time)
    decoder = EventDecoder(cfg)
    refused: list = []
    closed: list = []
    lines = data.splitlines(keepends=True)
    for i in range(0, len(lines), 500):
        decoded = decoder.decode_lines(
            b"".join(lines[i : i + 500])
        )  # beyond year 9999: refused here
        refused += decoded.errors + engine.process("s", decoded, i + 500)
        closed += close(engine, engine.watermark())
    closed += flush(engine)
    return window_table(closed), refused, engine


CLEAN = None


def events(table: dict) -> int:
    """Events in all windows (every event has a value or a missing one in each feature)."""
    return sum(v[0] + v[1] for k, v in table.items() if k[3] == "num_00")


def clean() -> dict:
    global CLEAN
    if CLEAN is None:
        CLEAN = run(lines_with({}))[0]
    return CLEAN


year_2100 = 4_102_444_800_000


@pytest.mark.parametrize(
    "bad_ts, why",
    [
        (year_2100, "wall clock"),
        (253_402_300_799_000, "year 9999"),
        (SPEC.start_ms + 30 * 86_400_000, "a month ahead of the file, still in the past"),
    ],
)
def test_one_future_event_costs_only_itself(bad_ts: int, why: str) -> None:
    table, refused, engine = run(lines_with({1_000: bad_ts}))
    assert [(e.position, e.reason) for e in refused] == [(1_000 % 500, "timestamp_out_of_range")], (
        why
    )
    assert engine.late_by_model["demo"] == 0
    # the good events' windows equal a clean run's, minus the one event in its window
    assert table.keys() == clean().keys()
    assert events(table) == events(clean()) - 1


def test_one_percent_of_hostile_clocks_lose_no_good_event() -> None:
    rng = np.random.default_rng(3)
    bad_at = sorted(rng.choice(N, N // 100, replace=False).tolist())
    stamps = rng.choice([year_2100, 10**15, SPEC.start_ms + 40 * 86_400_000], len(bad_at))
    table, refused, engine = run(lines_with(dict(zip(bad_at, stamps.tolist()))))
    assert len(refused) == len(bad_at)
    assert {e.reason for e in refused} == {"timestamp_out_of_range"}
    assert engine.late_by_model["demo"] == 0
    assert events(table) == events(clean()) - len(bad_at)


def test_the_live_guard_does_not_bound_a_jump_in_the_past() -> None:
    # A partition silent for a month then resuming is normal in a live stream.
    _, refused, _ = run(lines_with({1_000: SPEC.start_ms + 30 * 86_400_000}), replay_guard=False)
    assert refused == []


def test_not_before_floor() -> None:
    cfg = parse_config(
        {
            "event_time": {"not_before": "2020-01-01T00:00:00Z"},
            "models": {"m": {"features": {"x": {"kind": "numeric"}}}},
        }
    )
    guard = EventTimeGuard.live(cfg.event_time)
    assert guard.admit(np.array([5, 1_767_225_600_000]), None)[0].tolist() == [3, 0]


def test_late_drops_are_logged_once_with_counts(caplog: pytest.LogCaptureFixture) -> None:
    # Events 60,000 .. 60,099 dated ten minutes back: late (the lateness is 0).
    data = lines_with({i: SPEC.start_ms + (i - 6_000) * 100 for i in range(3_000, 3_100)})
    with caplog.at_level(logging.WARNING, logger="monitor.engine"):
        _, refused, engine = run(data)
    assert refused == []
    assert engine.late_by_model["demo"] == 100
    lines = [
        r.getMessage() for r in caplog.records if "after their window had closed" in r.getMessage()
    ]
    assert len(lines) == 1 and lines[0].startswith("model demo: 100 event(s)")


def test_versions_beyond_max_versions_are_dead_letters() -> None:
    raw = msgspec.json.decode(
        b"[" + to_jsonl(SPEC, generate(SPEC, 3_000)).replace(b"\n", b",").rstrip(b",") + b"]"
    )
    for i, e in enumerate(raw):
        e["model_version"] = f"v{i}"  # 3,000 versions, one event each, all in one window
    data = b"".join(msgspec.json.encode(e) + b"\n" for e in raw)
    table, refused, _ = run(data, window="10m", max_versions=5)
    assert {e.reason for e in refused} == {"too_many_versions"}
    assert len(refused) == 3_000 - 5
    assert len({k[0] for k in table}) == 5 and events(table) == 5


def test_a_version_is_admitted_again_once_the_open_ones_close() -> None:
    # A deployment with max_versions 1: v2's events are refused while v1's window is open, but
    # they move the watermark (their clocks are fine), so v1's window closes and v2 gets in.
    cfg = config_for(SPEC, window="1m", max_versions=1)
    engine = engine_for(SPEC, cfg, reference_size=5_000)
    decoder = EventDecoder(cfg)
    lines = to_jsonl(SPEC, generate(SPEC, 1_800)).splitlines(keepends=True)  # three minutes
    v2 = [line.replace(b'"model_version":"v1"', b'"model_version":"v2"') for line in lines]
    assert engine.process("s", decoder.decode_lines(b"".join(lines[:600])), 600) == []
    refused = engine.process("s", decoder.decode_lines(b"".join(v2[600:1_200])), 1_200)
    assert {e.reason for e in refused} == {"too_many_versions"} and len(refused) == 600
    assert [w.model_version for w in close(engine, engine.watermark())] == ["v1"]
    assert engine.process("s", decoder.decode_lines(b"".join(v2[1_200:])), 1_800) == []
    assert [(w.model_version, w.dataset.events) for w in flush(engine)] == [("v2", 600)]


@pytest.mark.parametrize(
    "model, key",
    [
        ({"window": "1h", "slide": "1s"}, "models.m.slide"),
        ({"allowed_lateness": "36500d"}, "models.m.allowed_lateness"),
        ({"max_versions": 0}, "models.m.max_versions"),
    ],
)
def test_window_geometry_and_versions_have_sane_limits(model: dict, key: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config({"models": {"m": {"features": {"x": {"kind": "numeric"}}, **model}}})
    assert err.value.key == key


def test_feed_helper_still_closes_every_window() -> None:
    # The guard is on by default (live bounds); a seeded stream in the past passes it whole.
    cfg = config_for(SPEC, window="1m")
    closed = feed(
        engine_for(SPEC, cfg, reference_size=5_000), cfg, to_jsonl(SPEC, generate(SPEC, N)), 700
    )
    assert sum(w.dataset.events for w in closed) == N


def test_a_replayed_file_with_a_year_2100_event_keeps_every_good_event(
    db_url: str, tmp_path
) -> None:
    """As a user meets it: ``monitor replay`` into SQLite or PostgreSQL, a dead-letter file."""
    import io

    from monitor.pipeline.files import replay
    from tests.test_replay import CFG, N, new_store
    from tests.test_replay import SPEC as REPLAY_SPEC

    events = msgspec.json.decode(
        b"["
        + to_jsonl(REPLAY_SPEC, generate(REPLAY_SPEC, N)).replace(b"\n", b",").rstrip(b",")
        + b"]"
    )
    events[100]["timestamp"] = year_2100
    events[200]["timestamp"] = events[199]["timestamp"] - 10 * 60_000  # late: ten minutes back
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"".join(msgspec.json.encode(e) + b"\n" for e in events))
    store = new_store(db_url)
    letters = io.BytesIO()
    report = replay(CFG, store, [path], dead_letters=letters)
    assert report.invalid == {"timestamp_out_of_range": 1}
    assert report.late == {"fraud": 1}
    assert sum(w.dataset.events for w in report.windows) == N - 2
    (letter,) = [msgspec.json.decode(line) for line in letters.getvalue().splitlines()]
    assert letter["reason"] == "timestamp_out_of_range" and "max_future" in letter["detail"]
    store.engine.dispose()
