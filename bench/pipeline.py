"""The replay pipeline against the machine's limit: read + decode + sketch + window close +
persist, divided by the fastest typed decode of the same file (:mod:`bench.yardsticks`), in
process (the ``replay()`` call) and as a user runs it (``monitor replay``, the whole process, its
start-up included), on SQLite and on PostgreSQL; then how the cost grows (SQLite).

Each measurement runs in a fresh subprocess (so peak RSS is its own) and is the median of
``repeat`` runs.
"""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import database, medians, peak_rss_mb
from bench.yardsticks import TYPED, best_typed, json_file_rates
from monitor.config import parse_config
from monitor.synth import (
    DriftSpec,
    StreamSpec,
    default_features,
    generate,
    reference_rows,
    to_jsonl,
)

DATA = Path("bench/.data/pipeline")
#: Segment keys and the values events cycle through (event i has value i % len of each).
SEGMENTS = {
    "region": ("eu", "us", "eu", "apac", "us", "eu", "br"),
    "channel": ("web", "app", "web"),
}


def _tag(lines: list[bytes], keys: int) -> list[bytes]:
    """Give line i the segments of event i for the first ``keys`` segment keys."""
    if not keys:
        return lines
    chosen = list(SEGMENTS.items())[:keys]
    return [
        line[:-2]
        + b',"segments":{'
        + b",".join(b'"%s":"%s"' % (k.encode(), v[i % len(v)].encode()) for k, v in chosen)
        + b"}}\n"
        for i, line in enumerate(lines)
    ]


def dataset(
    n_numeric: int, n_events: int, models: int = 1, interval_ms: int = 100, segments: int = 0
) -> Path:
    """A JSONL stream (+ its reference rows) cached under bench/.data/pipeline/; ``segments``:
    how many segment keys the events carry (and the config monitors)."""
    name = f"n{n_numeric}_e{n_events}_m{models}_i{interval_ms}" + (
        f"_s{segments}" if segments else ""
    )
    folder = DATA / name
    if (folder / "events.jsonl").exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    specs = [
        StreamSpec(
            features=default_features(n_numeric),
            model_id=f"model{m}",
            interval_ms=interval_ms * models,
            start_ms=1_767_225_600_000 + m * interval_ms,
            drift=(DriftSpec("num_00", 0.5, n_events // models // 2),),
            seed=11 + m,
        )
        for m in range(models)
    ]
    per = n_events // models
    with (folder / "events.jsonl").open("wb") as fh:
        for offset in range(0, per, 50_000):
            chunks = [
                to_jsonl(s, generate(s, min(50_000, per - offset), offset)).splitlines(
                    keepends=True
                )
                for s in specs
            ]
            for lines in zip(*chunks):  # interleave the models in time order
                fh.write(b"".join(_tag(list(lines), segments)))
    for s in specs:
        with (folder / f"reference_{s.model_id}.jsonl").open("wb") as fh:
            fh.write(
                b"".join(
                    _tag(to_jsonl(s, reference_rows(s, 50_000)).splitlines(keepends=True), segments)
                )
            )
    meta = {
        "models": [s.model_id for s in specs],
        "n_numeric": n_numeric,
        "events": n_events,
        "segments": list(SEGMENTS)[:segments],
    }
    (folder / "meta.json").write_text(json.dumps(meta))
    return folder


def _config(folder: Path, window_s: int, url: str) -> dict[str, Any]:
    meta = json.loads((folder / "meta.json").read_text())
    features = {f"num_{i:02d}": {"kind": "numeric"} for i in range(meta["n_numeric"])}
    features |= {"cat10": {"kind": "categorical"}, "cat50": {"kind": "categorical"}}
    segments = {"keys": meta.get("segments", [])}
    models = {
        m: {
            "window": f"{window_s}s",
            "features": features,
            "reference": {"baseline_events": 0},
            "segments": segments,
        }
        for m in meta["models"]
    }
    return {"database_url": url, "checkpoint_interval": "5s", "models": models}


def _prepare(folder: Path, window_s: int, url: str) -> Any:
    """The config, and its store with the schema and every model's reference profile."""
    from monitor.config import parse_config
    from monitor.reference import ReferenceProfile, read_reference_rows
    from monitor.store import Store

    cfg = parse_config(_config(folder, window_s, url))
    store = Store(cfg.database_url)
    store.upgrade()
    for model_id, model in cfg.models.items():
        rows = read_reference_rows(folder / f"reference_{model_id}.jsonl")
        store.save_reference(ReferenceProfile.for_model(model_id, "*", model, rows))
    return cfg, store


def _replay_child(folder: str, window_s: str, url: str) -> None:
    """Runs in the subprocess: build references, measure the yardstick, then time one replay()
    call."""
    from monitor.pipeline.files import replay

    cfg, store = _prepare(Path(folder), int(window_s), url)
    yardstick = _yardstick(cfg, Path(folder))
    started = time.perf_counter()
    report = replay(cfg, store, [Path(folder) / "events.jsonl"], keep_windows=False)
    seconds = time.perf_counter() - started
    rss = peak_rss_mb()
    store.engine.dispose()
    print(
        json.dumps(
            {
                "events": report.events,
                "seconds": seconds,
                "windows": report.closed,
                "rss_mb": rss,
                "yardstick": yardstick,
            }
        )
    )


def _yardstick(cfg: Any, folder: Path) -> float:
    """The fastest typed decode of the folder's events file, measured in the same process just
    before the run it divides (the machine's load varies over a suite's minutes)."""
    return best_typed(json_file_rates(cfg, folder / "events.jsonl", quick=True))[1]


def _prepare_child(folder: str, window_s: str, url: str, config_path: str) -> None:
    """Runs in a subprocess: the store and the config file for a ``monitor replay`` run."""
    cfg, store = _prepare(Path(folder), int(window_s), url)
    store.engine.dispose()
    Path(config_path).write_text(json.dumps(_config(Path(folder), int(window_s), url)))
    print(json.dumps({"yardstick": _yardstick(cfg, Path(folder))}))


def _decoders_child(folder: str) -> None:
    """Every way of decoding the folder's events file: the yardstick's and the context's."""
    cfg = parse_config(_config(Path(folder), 1000, "sqlite://"))
    print(json.dumps(json_file_rates(cfg, Path(folder) / "events.jsonl")))


def _child(*args: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "bench.pipeline", *args], capture_output=True, text=True, check=True
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def replay_rate(folder: Path, window_s: int, repeat: int, db: str = "sqlite") -> dict[str, Any]:
    """In process: the replay() call alone (references built before the clock)."""
    runs = []
    for _ in range(repeat):
        with database(db) as url:
            r = _child("replay", str(folder), str(window_s), url)
        rate = r["events"] / r["seconds"]
        runs.append(r | {"events_per_s": rate, "share": rate / r["yardstick"]})
    return medians(runs) | {"rss_mb": max(r["rss_mb"] for r in runs)}


_REPORTED = re.compile(r"^(\d+) events in ([0-9.]+) s")


def cli_rate(folder: Path, window_s: int, repeat: int, db: str = "sqlite") -> dict[str, Any]:
    """As a user runs it: ``python -m monitor replay`` on a prepared store, timed by the wall
    clock from spawn to exit; ``outside_s``: that time less the replay's own (which the command
    prints), i.e. start-up, config, opening the store and exit."""
    runs = []
    for _ in range(repeat):
        with database(db) as url, tempfile.TemporaryDirectory() as tmp:
            config = Path(tmp) / "monitor.yaml"
            yardstick = _child("prepare", str(folder), str(window_s), url, str(config))
            command = [sys.executable, "-m", "monitor", "replay", "--config", str(config)]
            started = time.perf_counter()
            out = subprocess.run(
                [*command, "--no-progress", str(folder / "events.jsonl")],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            wall = time.perf_counter() - started
        reported = next(m for line in out.splitlines() if (m := _REPORTED.match(line)))
        events = int(reported.group(1))
        runs.append(
            {
                "events": events,
                "events_per_s": events / wall,
                "share": events / wall / yardstick["yardstick"],
                "yardstick": yardstick["yardstick"],
                "wall_s": wall,
                "outside_s": wall - float(reported.group(2)),
            }
        )
    return medians(runs)


def startup(repeat: int) -> dict[str, float]:
    """Wall-clock seconds of ``monitor --help`` and of a bare ``python -c "import click"``."""
    out = {}
    for name, args in (
        ("monitor --help", ["-m", "monitor", "--help"]),
        ("import click", ["-c", "import click"]),
    ):
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            subprocess.run([sys.executable, *args], capture_output=True, check=True)
            times.append(time.perf_counter() - started)
        out[name] = sorted(times)[len(times) // 2]
    return out


def replay_memory(counts: tuple[int, ...], window_s: int = 100) -> dict[int, dict[str, float]]:
    """Resident memory of ``monitor replay`` (a subprocess, its store and reference prepared
    beforehand) over files of ``counts`` events, windows of ``window_s`` seconds (10 events a
    second: 1,000 events a window), sampled every 10 ms: the RSS a tenth and half way through
    the run and the peak. Flat across counts when what closed windows leave behind is freed."""
    out: dict[int, dict[str, float]] = {}
    for n in counts:
        folder = dataset(20, n)
        with database("sqlite") as url, tempfile.TemporaryDirectory() as tmp:
            _, store = _prepare(folder, window_s, url)
            store.engine.dispose()
            config = Path(tmp) / "monitor.yaml"
            config.write_text(json.dumps(_config(folder, window_s, url)))
            command = [sys.executable, "-m", "monitor", "replay", "--config", str(config)]
            printed = Path(tmp) / "stdout"  # a file, not a pipe: nothing reads it until the end
            with printed.open("wb") as fh:
                child = subprocess.Popen(
                    [*command, "--no-progress", str(folder / "events.jsonl")],
                    stdout=fh,
                    stderr=subprocess.DEVNULL,
                )
                samples, peak = _memory_of(child)
            stdout = printed.read_bytes()
        reported = next(m for m in map(_REPORTED.match, stdout.decode().splitlines()) if m)
        out[n] = {
            "events": int(reported.group(1)),
            "windows": int(re.findall(rb"(\d+) windows closed", stdout)[0]),
            "rss_10_mb": samples[len(samples) // 10],
            "rss_50_mb": samples[len(samples) // 2],
            "peak_mb": peak,
        }
    return out


def _memory_of(child: subprocess.Popen[bytes]) -> tuple[list[float], float]:
    """``child``'s resident set (MB) every 10 ms until it exits, and its peak (VmHWM)."""
    samples, peak = [], 0.0
    status = Path(f"/proc/{child.pid}/status")
    while child.poll() is None:
        with contextlib.suppress(OSError):  # the child may exit between poll and read
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines())
            if "VmRSS" in fields:  # absent once the process is a zombie
                samples.append(int(fields["VmRSS"].split()[0]) / 1024)
                peak = max(peak, int(fields["VmHWM"].split()[0]) / 1024)
        time.sleep(0.01)
    return samples, peak


def decoder_rates(folder: Path, repeat: int) -> dict[str, float]:
    return medians([_child("decoders", str(folder)) for _ in range(repeat)])


def run(smoke: bool = False) -> dict[str, Any]:
    repeat = 1 if smoke else 3
    n = 20_000 if smoke else 1_000_000
    main = dataset(20, n)
    results: dict[str, Any] = {"events": n, "decoders": decoder_rates(main, repeat)}
    results["yardstick"] = best_typed(results["decoders"])
    results["startup"] = startup(repeat)
    for db in ("sqlite", "postgresql"):  # 10,000 events a window
        results[f"replay_{db}"] = replay_rate(main, 1000, repeat, db)
        results[f"cli_{db}"] = cli_rate(main, 1000, repeat, db)
    m = 10_000 if smoke else 200_000
    results["features"] = {
        f: replay_rate(dataset(f, m), 1000, repeat)
        for f in ((5, 20) if smoke else (5, 20, 50, 100))
    }
    results["window"] = {
        f"{events_per_window} events": replay_rate(main, events_per_window // 10, repeat)
        for events_per_window in ((1_000, 10_000) if smoke else (1_000, 10_000, 100_000, 1_000_000))
    }
    counts = (1, 2) if smoke else (1, 4, 16)
    results["models"] = {k: replay_rate(dataset(20, m, k), 1000, repeat) for k in counts}
    # one model in windows as small as the most models' (10,000 events / k): what is left of
    # the gap is then the cost of splitting batches by model, not of closing k times the windows
    results["models"][f"1, windows of {10_000 // counts[-1]:,} events as {counts[-1]}'s"] = (
        replay_rate(dataset(20, m), 1000 // counts[-1], repeat)
    )
    results["segments"] = {
        k: replay_rate(dataset(20, m, segments=k), 1000, repeat)
        for k in ((0, 1) if smoke else (0, 1, 2))
    }
    results["memory"] = replay_memory(
        (10_000, 20_000) if smoke else (200_000, 1_000_000, 2_000_000)
    )
    return results


def render(results: dict[str, Any]) -> str:
    name, yardstick = results["yardstick"]
    lines = [
        (
            f"| {results['events']:,} events | events/s | ÷ yardstick (fastest typed decode) "
            "| peak RSS MB |"
        ),
        "|---|---:|---:|---:|",
    ]
    for way, rate in sorted(results["decoders"].items(), key=lambda kv: -kv[1]):
        label = f"**yardstick: {way}**" if way == name else f"decode only: {way}"
        if not way.startswith(TYPED):
            label += " (context)"
        lines.append(f"| {label} | {rate:,.0f} | {rate / yardstick:.0%} | |")
    for db, title in (("sqlite", "SQLite"), ("postgresql", "PostgreSQL")):
        r = results[f"replay_{db}"]
        lines.append(
            f"| **replay() in process**, {title} | **{r['events_per_s']:,.0f}** | "
            f"**{r['share']:.0%}** | {r['rss_mb']:.0f} |"
        )
        c = results[f"cli_{db}"]
        lines.append(
            f"| **`monitor replay`, whole process** (wall clock, start-up included), {title} | "
            f"**{c['events_per_s']:,.0f}** | **{c['share']:.0%}** | |"
        )
    s = results["startup"]
    lines += [
        "",
        (
            "Replay: read, decode, sketch, close windows, persist (windows of 10,000 events). "
            f"Start-up: `monitor --help` takes {s['monitor --help']:.2f} s (a bare "
            f"`python -c 'import click'` {s['import click']:.2f} s); "
            f"the whole-process runs spent {results['cli_sqlite']['outside_s']:.1f} s (SQLite) and "
            f"{results['cli_postgresql']['outside_s']:.1f} s (PostgreSQL) outside the replay "
            "itself (start-up, config, opening the store, exit). Each run's ÷ yardstick "
            "divides by the fastest typed decode measured in the same run just before it (the "
            "machine's load varies over a suite's minutes); the decode rows above are their own "
            "runs."
        ),
        "",
        (
            "| how the cost grows (in process, SQLite) | events/s | yardstick: typed decode of "
            "the same file | ÷ yardstick | peak RSS MB |"
        ),
        "|---|---:|---:|---:|---:|",
    ]
    for group, label in (
        ("features", "numeric features"),
        ("window", "window of"),
        ("models", "models"),
        ("segments", "segment keys (region: 4 values + other; channel: 2 + other)"),
    ):
        for key, r in results.get(group, {}).items():
            lines.append(
                f"| {label} {key} | {r['events_per_s']:,.0f} | {r['yardstick']:,.0f} | "
                f"{r['share']:.0%} | {r['rss_mb']:.0f} |"
            )
    lines += [
        "",
        (
            "| `monitor replay` memory (SQLite, 1,000 events a window) | windows | RSS MB, a "
            "tenth through | half way | peak |"
        ),
        "|---|---:|---:|---:|---:|",
    ]
    for n, m in results.get("memory", {}).items():
        lines.append(
            f"| {int(n):,} events | {m['windows']:,.0f} | {m['rss_10_mb']:.0f} | "
            f"{m['rss_50_mb']:.0f} | {m['peak_mb']:.0f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    kind, *rest = sys.argv[1:]
    {"replay": _replay_child, "prepare": _prepare_child, "decoders": _decoders_child}[kind](*rest)
