"""Scale-out: N processes of one consumer group checkpointing into one PostgreSQL.

Horizontal scale is the consumer group plus the SQL database: each process checkpoints its own
partitions' panes and positions, and the windows every partition passed are closed from SQL by
whichever process checkpoints first (:mod:`monitor.pipeline.closing`). This suite measures what
that costs one PostgreSQL as the group grows: N = 1, 4, 16, 64 processes over 64 partitions,
4 models x 50 features (46 numeric, 4 categorical), a checkpoint every 5 s.

Each simulated process is a real OS process (``multiprocessing``, forked) with the real
pipeline (:func:`monitor.pipeline.build.build` with ``shared=``: an Engine and a Checkpointer,
closing across processes) owning partitions ``i, i + N, i + 2N, ...``. It stands in for
``monitor run`` without the broker: every second it hands each of its partitions a batch of
40 events (10 per model) through ``Engine.process``, so the panes it checkpoints are real
sketches of real values. The batches are decoded once before the fork (synthetic JSON from
:mod:`monitor.synth` through the product's decoder) and only re-stamped in event time per
feed, so that decoding does not compete with the database for the 2 cores.

Event time runs 12x the wall clock (one 60 s window per 5 s checkpoint interval): every
checkpoint round closes about one window per model, far more closing than hour-long windows
cause, so the closing figures are an upper bound. The rows a checkpoint writes do not depend
on that speed: one pane per partition and model per checkpoint, as with any window length.

Measured, after a warm-up, per N:

- checkpoint latency: the checkpoint transaction (``monitor_checkpoint_duration_seconds``),
  p50 and p99 over every checkpoint of every process;
- closing: the time :func:`~monitor.pipeline.closing.close_shared` spends per window it closes
  (read every partition's panes of the window, merge, evaluate, write: the closing work,
  including the wait for the model's frontier row lock), and the delay from the moment event
  time passed a window's end to the checkpoint that closed it;
- database load from PostgreSQL's own counters (``pg_stat_database`` of the bench database):
  transactions/s and rows written/s; sessions waiting on a lock (and how many of them on a
  model's frontier row), sampled every 0.2 s;
- CPU: cores used by the simulated processes, and how busy the whole machine was.

On the 2-core machine 64 processes share 2 cores with PostgreSQL (and whatever else runs): the
figures at 16 and 64 processes measure database contention *and* CPU contention, which the
CPU columns make visible. Each N runs in a fresh database ``bench_scale``, dropped afterwards.
"""

from __future__ import annotations

import dataclasses
import multiprocessing as mp
import os
import statistics
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import Engine as SqlEngine
from sqlalchemy import create_engine, text

ADMIN_URL = os.environ.get("MONITOR_TEST_PG", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")
DATABASE = "bench_scale"
JOB = "scale"
TOPIC = "predictions"
PARTITIONS = 64
MODELS = tuple(f"m{i}" for i in range(4))
CATEGORICAL = {"cat5": 5, "cat10": 10, "cat20": 20, "cat50": 50}
NUMERIC = 50 - len(CATEGORICAL)
EVENTS_PER_FEED = 10  # per model, per partition, per feed
WINDOW_S = 60
VARIANTS = 16  # distinct pre-decoded batches per model, used in turn


@dataclass(frozen=True)
class Plan:
    """One run of the suite: the process counts, the checkpoint interval, how long to warm up
    and to measure per process count, and how often each process feeds its partitions."""

    processes: tuple[int, ...]
    interval_s: float
    warmup_s: float
    measure_s: float
    feed_s: float

    @property
    def speed(self) -> float:
        """Event-time seconds per wall-clock second: one window per checkpoint interval."""
        return WINDOW_S / self.interval_s


FULL = Plan((1, 4, 16, 64), interval_s=5.0, warmup_s=10.0, measure_s=40.0, feed_s=1.0)
SMOKE = Plan((1, 2), interval_s=1.0, warmup_s=1.0, measure_s=2.0, feed_s=0.2)


def _config(plan: Plan) -> Any:
    from monitor.config import parse_config

    features = {f"num_{i:02d}": {"kind": "numeric"} for i in range(NUMERIC)} | {
        name: {"kind": "categorical"} for name in CATEGORICAL
    }
    model = {
        "window": f"{WINDOW_S}s",
        "features": features,
        "reference": {"baseline_events": 0},
        "topics": {"predictions": TOPIC},
    }
    return parse_config(
        {
            "checkpoint_interval": f"{int(plan.interval_s * 1000)}ms",
            "models": {m: model for m in MODELS},
        }
    )


def _specs() -> list[Any]:
    from monitor.synth import StreamSpec, default_features

    features = default_features(NUMERIC, CATEGORICAL)
    return [StreamSpec(features=features, model_id=m, seed=11 + i) for i, m in enumerate(MODELS)]


def _batches(cfg: Any) -> list[Any]:
    """``VARIANTS`` decoded batches of ``EVENTS_PER_FEED`` events per model (all models in
    each), through the product's decoder; a feed only re-stamps their event times."""
    from monitor.events import EventDecoder
    from monitor.synth import generate, to_jsonl

    decoder = EventDecoder(cfg)
    specs = _specs()
    out = []
    for v in range(VARIANTS):
        offset = v * EVENTS_PER_FEED
        lines = b"".join(to_jsonl(s, generate(s, EVENTS_PER_FEED, offset)) for s in specs)
        decoded = decoder.decode_lines(lines)
        assert not decoded.errors and len(decoded.batches) == len(MODELS), decoded.errors
        out.append(decoded)
    return out


@contextmanager
def _database(admin: SqlEngine) -> Iterator[str]:
    """A fresh database for one run, dropped afterwards; yields its URL."""
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{DATABASE}"'))
    try:
        yield ADMIN_URL.rsplit("/", 1)[0] + f"/{DATABASE}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))


def _references(cfg: Any) -> list[Any]:
    """The models' reference profiles, built once for every run."""
    from monitor.reference import ReferenceProfile
    from monitor.synth import reference_rows
    from tests.helpers import rows_of

    return [
        ReferenceProfile.for_model(
            spec.model_id, "*", cfg.models[spec.model_id], rows_of(reference_rows(spec, 20_000))
        )
        for spec in _specs()
    ]


def _prepare(url: str, references: list[Any]) -> None:
    from monitor.store import Store

    store = Store(url)
    store.upgrade()
    for profile in references:
        store.save_reference(profile)
    store.engine.dispose()  # no connection crosses the fork


@dataclass
class _Shared:
    """What the parent hands every simulated process (inherited through the fork)."""

    plan: Plan
    processes: int
    url: str
    cfg: Any
    batches: list[Any]
    ready: Any  # multiprocessing queue: each process says it is built
    go: Any  # multiprocessing event: start the clock
    start: Any  # multiprocessing value: the wall-clock start, the same for every process
    results: Any  # multiprocessing queue: each process's measurements
    event_zero_ms: int  # event time at the start


def _simulate(index: int, s: _Shared) -> None:
    """One process of the group: build the pipeline, feed its partitions, checkpoint on
    schedule, and report every checkpoint and every closing."""
    from monitor.events import Decoded
    from monitor.pipeline import checkpoint
    from monitor.pipeline.build import build
    from monitor.store import Store

    closes: list[tuple[float, float, list[int]]] = []
    close_shared = checkpoint.close_shared

    def timed_close(*args: Any, **kwargs: Any) -> Any:
        # The closing step of the checkpoint, timed from outside: wall time, seconds, the end
        # of every window it closed.
        started = time.perf_counter()
        closed = close_shared(*args, **kwargs)
        closes.append((time.time(), time.perf_counter() - started, [w.end_ms for w in closed]))
        return closed

    checkpoint.close_shared = timed_close  # type: ignore[assignment]
    sources = [f"{TOPIC}:{p}" for p in range(PARTITIONS)]
    mine = sources[index :: s.processes]
    store = Store(s.url)
    pipeline = build(s.cfg, store, JOB, shared=lambda: sources)
    pipeline.restore(mine)
    engine, checkpointer = pipeline.engine, pipeline.checkpointer
    s.ready.put(index)
    s.go.wait()
    plan, w0 = s.plan, s.start.value
    offsets = dict.fromkeys(mine, 0)
    last_ms = s.event_zero_ms
    next_feed, feeds = w0, 0
    # Processes start their checkpoint clocks at different times, as a real group does.
    next_checkpoint = w0 + plan.interval_s * (1 + index / s.processes)
    end = w0 + plan.warmup_s + plan.measure_s
    checkpoints: list[tuple[float, float, float, bool, int]] = []
    cpu: dict[str, float] = {}
    while (now := time.time()) < end:
        if "warm" not in cpu and now >= w0 + plan.warmup_s:
            cpu["warm"] = time.process_time()
        if now >= next_checkpoint:
            started, seen = time.perf_counter(), len(closes)
            ok = checkpointer.commit()
            took = time.perf_counter() - started
            closed = sum(len(ends) for _, _, ends in closes[seen:])
            checkpoints.append((now, checkpointer.last_duration or 0.0, took, ok, closed))
            next_checkpoint = now + plan.interval_s  # as Checkpointer.due: from the last one
        if now >= next_feed:
            high_ms = s.event_zero_ms + int((now - w0) * plan.speed * 1000)
            for source in mine:
                decoded = s.batches[feeds % VARIANTS]
                # Event times rise in the order of the events in the batch (their positions),
                # as in a partition: none is late.
                step = (high_ms - last_ms) / decoded.count
                stamps = last_ms + (np.arange(1, decoded.count + 1) * step).astype(np.int64)
                batches = {
                    model: dataclasses.replace(batch, timestamps=stamps[batch.positions])
                    for model, batch in decoded.batches.items()
                }
                offsets[source] += decoded.count
                engine.process(source, Decoded(batches, [], decoded.count), offsets[source])
                feeds += 1
            last_ms = high_ms
            next_feed += plan.feed_s
        time.sleep(max(0.0, min(next_feed, next_checkpoint, end) - time.time()))
    cpu["end"] = time.process_time()
    s.results.put(
        {
            "checkpoints": checkpoints,
            "closes": closes,
            "cpu_s": cpu["end"] - cpu.get("warm", cpu["end"]),
            "events": sum(offsets.values()),
        }
    )
    store.engine.dispose()


def _pg_counters(admin: SqlEngine) -> dict[str, float]:
    q = text(
        "SELECT xact_commit, tup_inserted, tup_updated, tup_deleted, tup_fetched "
        "FROM pg_stat_database WHERE datname = :d"
    )
    with admin.connect() as conn:
        conn.execute(text("SELECT pg_stat_clear_snapshot()"))
        row = conn.execute(q, {"d": DATABASE}).one()
    return dict(row._mapping)


def _cpu_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine so far (/proc/stat)."""
    with open("/proc/stat") as stat:
        fields = [int(x) for x in stat.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


class _LockSampler(threading.Thread):
    """Sessions of the bench database waiting on a lock, sampled every 0.2 s: how many, and
    how many of them wait for a model's frontier row (locked by every checkpoint's closing
    step until it commits)."""

    def __init__(self, admin: SqlEngine) -> None:
        super().__init__(daemon=True)
        self.admin = admin
        self.samples: list[int] = []
        self.on_frontiers = 0
        self.stopping = threading.Event()

    def run(self) -> None:
        q = text(
            "SELECT query FROM pg_stat_activity WHERE datname = :d AND wait_event_type = 'Lock'"
        )
        with self.admin.connect() as conn:
            while not self.stopping.wait(0.2):
                waiting = conn.execute(q, {"d": DATABASE}).scalars().all()
                self.samples.append(len(waiting))
                self.on_frontiers += sum(
                    w.startswith(("SELECT frontiers.", "INSERT INTO frontiers")) for w in waiting
                )


def _percentile(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


def _run_group(
    plan: Plan, processes: int, admin: SqlEngine, cfg: Any, batches: list[Any], references: list
) -> dict:
    ctx = mp.get_context("fork")
    with _database(admin) as url:
        _prepare(url, references)
        now_ms = int(time.time() * 1000)
        zero = (now_ms - 3_600_000) // (WINDOW_S * 1000) * WINDOW_S * 1000  # an hour ago
        shared = _Shared(
            plan,
            processes,
            url,
            cfg,
            batches,
            ctx.Queue(),
            ctx.Event(),
            ctx.Value("d", 0.0),
            ctx.Queue(),
            zero,
        )
        children = [ctx.Process(target=_simulate, args=(i, shared)) for i in range(processes)]
        for child in children:
            child.start()
        for _ in children:
            shared.ready.get(timeout=300)
        w0 = time.time() + 0.5
        shared.start.value = w0
        shared.go.set()
        time.sleep(max(0.0, w0 + plan.warmup_s - time.time()))
        before, busy0 = _pg_counters(admin), _cpu_ticks()
        sampler = _LockSampler(admin)
        sampler.start()
        reports = [
            shared.results.get(timeout=plan.warmup_s + plan.measure_s + 600) for _ in children
        ]
        after, busy1 = _pg_counters(admin), _cpu_ticks()
        sampler.stopping.set()
        sampler.join()
        for child in children:
            child.join(60)
            assert child.exitcode == 0, f"simulated process exited with {child.exitcode}"
        with create_engine(url).connect() as conn:
            blob = conn.execute(text("SELECT avg(octet_length(sketch)) FROM panes")).scalar()
        measured_from = w0 + plan.warmup_s
    span = plan.measure_s
    done = [c for r in reports for c in r["checkpoints"] if c[0] >= measured_from]
    txn = [c[1] for c in done if c[3]]
    quiet = [c[1] for c in done if c[3] and not c[4]]  # closed no window
    commit = [c[2] for c in done if c[3]]
    closes = [c for r in reports for c in r["closes"] if c[0] >= measured_from]
    closing = [(seconds, len(ends)) for _, seconds, ends in closes if ends]
    windows_closed = sum(n for _, n in closing)
    delays = [
        wall - (w0 + (end_ms - zero) / 1000 / plan.speed)
        for wall, _, ends in closes
        for end_ms in ends
    ]
    written = sum(after[k] - before[k] for k in ("tup_inserted", "tup_updated", "tup_deleted"))
    return {
        "processes": processes,
        "checkpoints": len(txn),
        "failed_checkpoints": sum(1 for c in done if not c[3]),
        "checkpoints_per_s": len(txn) / span,
        "checkpoint_p50_ms": 1000 * (_percentile(txn, 50) or 0),
        "checkpoint_p99_ms": 1000 * (_percentile(txn, 99) or 0),
        "checkpoints_closing_nothing": len(quiet),
        "quiet_checkpoint_p50_ms": 1000 * (_percentile(quiet, 50) or 0),
        "commit_p50_ms": 1000 * (_percentile(commit, 50) or 0),
        "windows_closed": windows_closed,
        "closing_ms_per_window": 1000 * sum(s for s, _ in closing) / max(windows_closed, 1),
        "closing_call_p50_ms": 1000 * (_percentile([s for s, _ in closing], 50) or 0),
        "close_delay_p50_s": _percentile(delays, 50),
        "close_delay_p99_s": _percentile(delays, 99),
        "db_transactions_per_s": (after["xact_commit"] - before["xact_commit"]) / span,
        "db_rows_written_per_s": written / span,
        "db_rows_fetched_per_s": (after["tup_fetched"] - before["tup_fetched"]) / span,
        "lock_waiters_mean": statistics.mean(sampler.samples) if sampler.samples else 0.0,
        "lock_waiters_max": max(sampler.samples, default=0),
        "lock_waits_on_frontiers": sampler.on_frontiers / max(sum(sampler.samples), 1),
        "pane_bytes_mean": float(blob or 0),
        "events_per_s": sum(r["events"] for r in reports) / (plan.warmup_s + plan.measure_s),
        "process_cores": sum(r["cpu_s"] for r in reports) / span,
        "machine_busy": (busy1[0] - busy0[0]) / max(busy1[1] - busy0[1], 1),
    }


def run(smoke: bool = False) -> dict[str, Any]:
    plan = SMOKE if smoke else FULL
    cfg = _config(plan)
    batches, references = _batches(cfg), _references(cfg)
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        groups = [_run_group(plan, n, admin, cfg, batches, references) for n in plan.processes]
    finally:
        admin.dispose()
    return {
        "plan": dataclasses.asdict(plan),
        "partitions": PARTITIONS,
        "models": len(MODELS),
        "features": NUMERIC + len(CATEGORICAL),
        "groups": groups,
    }


def render(r: dict[str, Any]) -> str:
    plan = r["plan"]
    header = (
        "| processes | checkpoints/s | checkpoint p50 ms | p99 ms | p50 ms, closing nothing "
        "| closing ms per window | window closed after, p50 / p99 s | DB transactions/s "
        "| DB rows written/s | sessions waiting on a lock, mean / max "
        "| cores used by the processes | machine busy |"
    )
    lines = [header, "|---:" * header.count(" | ") + "|---:|"]
    for g in r["groups"]:
        delay = (
            f"{g['close_delay_p50_s']:.1f} / {g['close_delay_p99_s']:.1f}"
            if g["close_delay_p50_s"] is not None
            else "none closed"
        )
        quiet = (
            f"{g['quiet_checkpoint_p50_ms']:.0f}" if g["checkpoints_closing_nothing"] else "none"
        )
        frontiers = (
            f" ({g['lock_waits_on_frontiers']:.0%} on frontier rows)"
            if g["lock_waiters_max"]
            else ""
        )
        lines.append(
            f"| {g['processes']} | {g['checkpoints_per_s']:.1f} | "
            f"**{g['checkpoint_p50_ms']:.0f}** | **{g['checkpoint_p99_ms']:.0f}** | "
            f"{quiet} | "
            f"{g['closing_ms_per_window']:.0f} | {delay} | {g['db_transactions_per_s']:.1f} | "
            f"{g['db_rows_written_per_s']:,.0f} | {g['lock_waiters_mean']:.1f} / "
            f"{g['lock_waiters_max']}{frontiers} | {g['process_cores']:.2f} | "
            f"{g['machine_busy']:.0%} |"
        )
    first = r["groups"][0]
    lines.append(
        f"\n{r['partitions']} partitions, {r['models']} models x {r['features']} features, a "
        f"checkpoint every {plan['interval_s']:g} s per process, {first['events_per_s']:,.0f} "
        f"events/s in all; each process a real OS process with the real Engine and "
        f"Checkpointer (closing across processes), fed pre-decoded batches; PostgreSQL on the "
        f"same machine. Event time runs {WINDOW_S / plan['interval_s']:g}x the wall clock, so "
        f"one {WINDOW_S} s window per model closes every checkpoint interval (an upper bound "
        f"on closing). Mean pane sketch {first['pane_bytes_mean'] / 1024:.0f} KiB. Figures "
        f"over {plan['measure_s']:g} s after a {plan['warmup_s']:g} s warm-up; 'closing ms per "
        "window' includes the wait for the model's frontier lock; a window closes at the first "
        "checkpoint after every partition's checkpointed watermark passed its end."
    )
    return "\n".join(lines)
