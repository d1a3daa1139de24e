"""The replay pipeline against the machine's limit: raw JSON decoders on the same bytes, then
read + decode + sketch + window close + persist (SQLite), and how the cost grows.

Each measurement runs in a fresh subprocess (so peak RSS is its own) and is the median of
``repeat`` runs.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import peak_rss_mb
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


def _config(folder: Path, window_s: int, db: Path) -> Path:
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
    path = db.with_suffix(".yaml")
    path.write_text(
        json.dumps(
            {"database_url": f"sqlite:///{db}", "checkpoint_interval": "5s", "models": models}
        )
    )
    return path


def _replay_child(folder: str, window_s: str) -> None:
    """Runs in the subprocess: build references, then time one replay."""
    from monitor.config import load_config
    from monitor.pipeline.files import replay
    from monitor.reference import ReferenceProfile, read_reference_rows
    from monitor.store import Store

    with tempfile.TemporaryDirectory() as tmp:
        cfg = load_config(_config(Path(folder), int(window_s), Path(tmp) / "bench.db"))
        store = Store(cfg.database_url)
        store.upgrade()
        for model_id, model in cfg.models.items():
            rows = read_reference_rows(Path(folder) / f"reference_{model_id}.jsonl")
            store.save_reference(ReferenceProfile.for_model(model_id, "*", model, rows))
        started = time.perf_counter()
        report = replay(cfg, store, [Path(folder) / "events.jsonl"])
        seconds = time.perf_counter() - started
    rss = peak_rss_mb()
    print(
        json.dumps(
            {
                "events": report.events,
                "seconds": seconds,
                "windows": len(report.windows),
                "rss_mb": rss,
            }
        )
    )


def _decoders_child(path: str) -> None:
    """Raw decode rate of each JSON decoder on the same bytes: per block of 5,000 lines (the
    pipeline's batch size) into a list of Python objects, nothing else."""
    import msgspec

    data = Path(path).read_bytes()
    lines = data.splitlines()
    blocks = [lines[i : i + 5000] for i in range(0, len(lines), 5000)]
    out: dict[str, float] = {}
    decoders: dict[str, Any] = {
        "json.loads": json.loads,
        "msgspec.json.decode": msgspec.json.Decoder().decode,
    }
    try:
        import orjson

        decoders["orjson.loads"] = orjson.loads
    except ImportError:
        pass
    for name, fn in decoders.items():
        started = time.perf_counter()
        for block in blocks:
            objects = list(map(fn, block))
        out[name] = len(lines) / (time.perf_counter() - started)
    del objects
    print(json.dumps(out))


def _child(*args: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "bench.pipeline", *args], capture_output=True, text=True, check=True
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def replay_rate(folder: Path, window_s: int, repeat: int) -> dict[str, Any]:
    runs = [_child("replay", str(folder), str(window_s)) for _ in range(repeat)]
    rates = [r["events"] / r["seconds"] for r in runs]
    return {
        "events": runs[0]["events"],
        "windows": runs[0]["windows"],
        "events_per_s": statistics.median(rates),
        "rss_mb": max(r["rss_mb"] for r in runs),
    }


def decoder_rates(folder: Path, repeat: int) -> dict[str, float]:
    runs = [_child("decoders", str(folder / "events.jsonl")) for _ in range(repeat)]
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def run(smoke: bool = False) -> dict[str, Any]:
    repeat = 1 if smoke else 3
    n = 20_000 if smoke else 1_000_000
    main = dataset(20, n)
    results: dict[str, Any] = {"decoders": decoder_rates(main, repeat)}
    results["replay"] = replay_rate(main, 1000, repeat)  # 10,000 events a window
    fastest = max(results["decoders"].items(), key=lambda kv: kv[1])
    results["fastest_decoder"] = fastest[0]
    results["share_of_fastest"] = results["replay"]["events_per_s"] / fastest[1]
    m = 10_000 if smoke else 200_000
    results["features"] = {
        f: replay_rate(dataset(f, m), 1000, repeat)
        for f in ((5, 20) if smoke else (5, 20, 50, 100))
    }
    results["window"] = {
        f"{events_per_window} events": replay_rate(dataset(20, n), events_per_window // 10, repeat)
        for events_per_window in ((1_000, 10_000) if smoke else (1_000, 10_000, 100_000, 1_000_000))
    }
    results["models"] = {
        k: replay_rate(dataset(20, m, k), 1000, repeat) for k in ((1, 2) if smoke else (1, 4, 16))
    }
    results["segments"] = {
        k: replay_rate(dataset(20, m, segments=k), 1000, repeat)
        for k in ((0, 1) if smoke else (0, 1, 2))
    }
    return results


def render(results: dict[str, Any]) -> str:
    lines = ["| measurement | events/s | peak RSS MB |", "|---|---:|---:|"]
    for name, rate in sorted(results["decoders"].items(), key=lambda kv: -kv[1]):
        lines.append(f"| raw decode: {name} (objects only) | {rate:,.0f} | |")
    r = results["replay"]
    lines.append(
        "| **monitor replay** end to end (read, decode, sketch, close, persist; SQLite) | "
        f"**{r['events_per_s']:,.0f}** | {r['rss_mb']:.0f} |"
    )
    lines.append(
        f"| share of the fastest raw decoder ({results['fastest_decoder']}) | "
        f"{results['share_of_fastest']:.0%} | |"
    )
    for group, label in (
        ("features", "numeric features"),
        ("window", "window of"),
        ("models", "models"),
        ("segments", "segment keys (region: 4 values + other; channel: 2 + other)"),
    ):
        for key, r in results.get(group, {}).items():
            lines.append(f"| {label} {key} | {r['events_per_s']:,.0f} | {r['rss_mb']:.0f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    kind, *rest = sys.argv[1:]
    {"replay": _replay_child, "decoders": _decoders_child}[kind](*rest)
