"""The engine: windows, merging, lateness, determinism (replay = live to the bit)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.engine import Engine, MemoryReferences
from monitor.events import EventDecoder
from monitor.pipeline.closing import close, flush
from monitor.sketches import Sketch, accumulate
from monitor.stats.binning import bin_index
from monitor.synth import DriftSpec
from tests.helpers import config_for, engine_for, feed, jsonl, small_spec, window_table

SPEC = small_spec()
DATA = jsonl(SPEC, 12_000)  # 20 minutes of events at 10/s


def test_tumbling_windows_count_every_event_once():
    cfg = config_for(SPEC, window="5m")
    windows = feed(engine_for(SPEC, cfg), cfg, DATA, 1000)
    assert [(w.end_ms - w.start_ms) for w in windows] == [300_000] * 4
    assert sum(w.dataset.events for w in windows) == 12_000
    assert all(w.dataset.events == 3000 for w in windows)


@settings(max_examples=8, deadline=None)
@given(chunks=st.lists(st.integers(1, 4000), min_size=1, max_size=6))
def test_batch_boundaries_do_not_change_windows(chunks):
    """Replay in any batching gives the same windows, to the bit (ints merge exactly)."""
    cfg = config_for(SPEC, window="5m", slide="1m")
    reference = window_table(feed(engine_for(SPEC, cfg), cfg, DATA, 12_000))
    engine = engine_for(SPEC, cfg)
    decoder = EventDecoder(cfg)
    lines = DATA.splitlines(keepends=True)
    closed, i, k = [], 0, 0
    while i < len(lines):
        n = chunks[k % len(chunks)]
        engine.process("s", decoder.decode_lines(b"".join(lines[i : i + n])), i + n)
        closed += close(engine, engine.watermark())
        i, k = i + n, k + 1
    assert window_table(closed + flush(engine)) == reference


def test_sliding_window_is_the_merge_of_its_panes():
    cfg = config_for(SPEC, window="5m", slide="1m")
    sliding = {(w.start_ms, w.end_ms): w for w in feed(engine_for(SPEC, cfg), cfg, DATA, 2000)}
    # Windows start every minute; each holds 5 minutes (3000 events) when fully inside the data.
    starts = sorted(s for s, _ in sliding)
    assert np.diff(starts).tolist() == [60_000] * (len(starts) - 1)
    full = [
        w for (s, e), w in sliding.items() if s >= SPEC.start_ms and e <= SPEC.start_ms + 1_200_000
    ]
    assert full and all(w.dataset.events == 3000 for w in full)
    # A tumbling 5-minute engine produces the same window as the sliding one at the same bounds.
    tumbling = {
        (w.start_ms, w.end_ms): w
        for w in feed(
            engine_for(SPEC, config_for(SPEC, window="5m")),
            config_for(SPEC, window="5m"),
            DATA,
            2000,
        )
    }
    for key, w in tumbling.items():
        assert window_table([w]) == window_table([sliding[key]])


def test_partitions_merge_to_one_pass():
    """Events split over sources (partitions) merge into the same windows as one source."""
    cfg = config_for(SPEC, window="5m")
    one = window_table(feed(engine_for(SPEC, cfg), cfg, DATA, 3000))
    engine = engine_for(SPEC, cfg)
    decoder = EventDecoder(cfg)
    lines = DATA.splitlines(keepends=True)
    parts = [lines[p::3] for p in range(3)]  # round-robin, each in time order
    for i in range(0, 4000, 500):
        for p, part in enumerate(parts):
            engine.process(f"p{p}", decoder.decode_lines(b"".join(part[i : i + 500])), i + 500)
        close(engine, engine.watermark())
    many = window_table(engine.drain().windows + flush(engine))
    assert many == one


def test_window_waits_for_the_slowest_source_and_lateness():
    cfg = config_for(SPEC, window="1m", allowed_lateness="30s")
    engine = engine_for(SPEC, cfg)
    decoder = EventDecoder(cfg)
    lines = DATA.splitlines(keepends=True)
    engine.process("a", decoder.decode_lines(b"".join(lines[:1500])))  # up to 150 s
    engine.process("b", decoder.decode_lines(b"".join(lines[:100])))  # up to 10 s
    assert close(engine, engine.watermark()) == []  # b holds the watermark back
    engine.process(
        "b", decoder.decode_lines(b"".join(lines[100:890]))
    )  # b at 89 s: 60 + 30 not reached
    assert close(engine, engine.watermark()) == []
    engine.process("b", decoder.decode_lines(b"".join(lines[890:900])))  # b at 89.9 s
    engine.process(
        "b", decoder.decode_lines(b"".join(lines[900:910]))
    )  # b at 90.9 s >= 60 s + 30 s
    (w,) = close(engine, engine.watermark())
    assert (w.start_ms - SPEC.start_ms, w.end_ms - SPEC.start_ms) == (0, 60_000)
    assert w.dataset.events == 600 + 600  # both sources' first minute


def test_late_events_are_counted_not_dropped_silently():
    cfg = config_for(SPEC, window="1m")
    engine = engine_for(SPEC, cfg)
    decoder = EventDecoder(cfg)
    lines = DATA.splitlines(keepends=True)
    engine.process("s", decoder.decode_lines(b"".join(lines[600:1300])))  # minute 1 and part of 2
    (first,) = close(engine, engine.watermark())
    engine.process("s", decoder.decode_lines(b"".join(lines[:50])))  # 50 events of minute 0: late
    engine.process("s", decoder.decode_lines(b"".join(lines[1300:1310])))
    state = engine.drain()
    assert sum(state.late.values()) == 50
    assert first.dataset.events == 600


def test_drift_is_flagged_in_the_first_full_window_after_a_half_std_shift():
    shift_at = 6000
    spec = small_spec(drift=(DriftSpec("num_01", 0.5, shift_at),))
    cfg = config_for(spec, window="5m")
    windows = feed(engine_for(spec, cfg, 100_000), cfg, jsonl(spec, 15_000), 2500)
    shift_ms = spec.start_ms + shift_at * spec.interval_ms
    for w in windows:
        flagged = {c.feature for c in w.columns if c.drift}
        if w.start_ms >= shift_ms:
            assert "num_01" in flagged, (w.start_ms, flagged)
        elif w.end_ms <= shift_ms:
            assert "num_01" not in flagged


def test_baseline_reference_from_first_events():
    cfg = config_for(SPEC, window="5m", reference={"baseline_events": 3000})
    engine = Engine(cfg, MemoryReferences())
    windows = feed(engine, cfg, DATA, 1000)
    assert engine.references.get_reference(SPEC.model_id, "v1").source == "baseline"
    assert windows[0].dataset.baseline and not any(c.drift for c in windows[0].columns)
    assert not windows[-1].dataset.baseline
    assert sum(w.dataset.events for w in windows) == 12_000


def test_no_reference_and_no_baseline_refuses_events_with_a_reason():
    cfg = config_for(SPEC, window="5m", reference={"baseline_events": 0})
    engine = Engine(cfg, MemoryReferences())
    refused = engine.process("s", EventDecoder(cfg).decode_lines(DATA[: DATA.index(b"\n") + 1]))
    assert [r.reason for r in refused] == ["no_reference"]


def test_checkpoint_state_restores_to_the_same_result():
    cfg = config_for(SPEC, window="5m", slide="1m", compare_previous=True)
    full = window_table(feed(engine_for(SPEC, cfg), cfg, DATA, 1000))
    engine = engine_for(SPEC, cfg)
    decoder = EventDecoder(cfg)
    lines = DATA.splitlines(keepends=True)
    engine.process("s", decoder.decode_lines(b"".join(lines[:5000])), 5000)
    before = close(engine, engine.watermark())
    state = engine.drain()
    assert all(k[3] for k in state.panes) is not None
    restarted = engine_for(SPEC, cfg)
    restarted.restore(state)
    restarted.process("s", decoder.decode_lines(b"".join(lines[5000:])), 12_000)
    after = close(restarted, restarted.watermark()) + flush(restarted)
    assert window_table(before + after) == full


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 150), st.floats(0.0, 0.3), st.floats(0.0, 0.5), st.integers(0, 2**31))
def test_sketch_counts_are_each_values_bin_whichever_way_they_are_searched(n, lost, on_edges, seed):
    """Fewer values than bins are binned value by value, more bin key by bin key (sketch.py):
    either way each finite value is counted in its :func:`bin_index` bin, the rest missing."""
    cfg = config_for(SPEC, window="5m")
    geo = engine_for(SPEC, cfg, 5000, fine_bins=50).geometry(SPEC.model_id, "v1")
    batch = EventDecoder(cfg).decode_lines(jsonl(SPEC, n, seed % 10_000)).batches[SPEC.model_id]
    rng = np.random.default_rng(seed)
    values = rng.normal(0.0, 30.0, batch.numeric.shape)
    for j, prof in zip(geo.numeric_cols.tolist(), geo.numeric):  # values on the edges too
        edges = rng.random(n) < on_edges
        values[edges, j] = rng.choice(prof.bin_edges, edges.sum())
    odd = rng.random(values.shape) < lost
    values[odd] = rng.choice([np.nan, np.inf, -np.inf], odd.sum())
    batch.numeric = values
    (sketch,) = accumulate(geo, batch, np.zeros(n, np.int64), 1)
    for j, prof in zip(geo.numeric_cols.tolist(), geo.numeric):
        column = values[:, j]
        finite = column[np.isfinite(column)]
        expected = np.bincount(bin_index(prof.bin_edges, finite), minlength=prof.n_bins)
        row = geo.numeric.index(prof)
        assert sketch.num_counts[row, : prof.n_bins].tolist() == expected.tolist()
        assert not sketch.num_counts[row, prof.n_bins :].any()
        applies = batch.has_prediction if prof.name in ("score", "prediction") else True
        assert sketch.num_missing[row] == np.count_nonzero(~np.isfinite(column) & applies)
        if finite.size:
            assert (sketch.num_min[row], sketch.num_max[row]) == (finite.min(), finite.max())


@settings(max_examples=20, deadline=None)
@given(st.lists(st.integers(0, 2), min_size=30, max_size=300), st.integers(0, 2**31))
def test_sketch_merge_is_exact_and_associative(groups, seed):
    cfg = config_for(SPEC, window="5m")
    engine = engine_for(SPEC, cfg, 5000, fine_bins=50)
    geo = engine.geometry(SPEC.model_id, "v1")
    batch = (
        EventDecoder(cfg)
        .decode_lines(jsonl(SPEC, len(groups), seed % 10_000))
        .batches[SPEC.model_id]
    )
    group = np.array(groups, np.int64)
    parts = accumulate(geo, batch, group, 3)
    (whole,) = accumulate(geo, batch, np.zeros(len(groups), np.int64), 1)
    left = parts[0].copy()
    left.merge(parts[1])
    left.merge(parts[2])
    right = parts[2].copy()
    tail = parts[1].copy()
    tail.merge(parts[0])
    right.merge(tail)
    assert left == whole == right
    assert Sketch.from_bytes(whole.to_bytes()) == whole
