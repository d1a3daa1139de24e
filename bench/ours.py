"""`monitor` on the peer benchmark's data, in the peers' result format (bench/peers/run_peer.py):
compute only (decoded columns in memory before the clock) and end to end (the same JSONL file
replayed into a fresh SQLite or PostgreSQL database), windows of 10,000 events aligned with the
peers' chunks; ``performance``: the predictions and their labels replayed through the label join
into the database, with realized and estimated (CBPE-style) performance per window, as NannyML's
PerformanceCalculator and CBPE compute them.

    .venv/bin/python -m bench.ours --mode compute|e2e|performance --out r.json \
        [--db sqlite|postgresql] [--smoke]
"""

from __future__ import annotations

import argparse
import json
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from bench import database, peak_rss_mb
from monitor.config import parse_config
from monitor.engine import Engine, MemoryReferences
from monitor.events import Decoded, ModelBatch
from monitor.layout import Layout
from monitor.pipeline.closing import close, flush
from monitor.reference import ReferenceProfile
from monitor.stats import preload

DATA = Path("bench/.data")


def _meta(smoke: bool) -> tuple[Path, dict[str, Any]]:
    folder = DATA / "smoke" if smoke else DATA
    return folder, json.loads((folder / "meta.json").read_text())


def _columns(folder: Path, name: str, meta: dict[str, Any]) -> dict[str, Any]:
    z = np.load(folder / f"{name}.npz", allow_pickle=False)
    out: dict[str, Any] = {
        "numeric": z["numeric"],
        "timestamp": z["timestamp"],
        "score": z["score"],
        "prediction": z["prediction"],
    }
    for c in meta["categorical"]:
        levels = z[f"{c}__levels"].astype(object)
        codes = z[f"{c}__codes"]
        out[c] = np.where(codes >= 0, levels[np.maximum(codes, 0)], None).tolist()
    return out


def _config(meta: dict[str, Any], db: str, origin: int, labels: str | None = None) -> Any:
    features = {n: {"kind": "numeric"} for n in meta["numeric"]} | {
        c: {"kind": "categorical"} for c in meta["categorical"]
    }
    window_s = meta["window"] * 100 // 1000  # events are 100 ms apart
    return parse_config(
        {
            "database_url": db,
            "models": {
                "demo": {
                    "window": f"{window_s}s",
                    "window_origin": origin,
                    "features": features,
                    "reference": {"baseline_events": 0},
                    "topics": {"labels": labels},
                }
            },
        }
    )


def _reference(cfg: Any, ref: dict[str, Any], meta: dict[str, Any]) -> ReferenceProfile:
    rows: dict[str, Any] = {n: ref["numeric"][:, i] for i, n in enumerate(meta["numeric"])}
    rows |= {c: ref[c] for c in meta["categorical"]}
    rows["score"] = ref["score"]
    rows["prediction"] = ref["prediction"].tolist()
    return ReferenceProfile.build(
        "demo",
        "*",
        Layout.from_model(cfg.models["demo"]),
        rows,
        cfg.models["demo"].reference.fine_bins,
    )


def _batch(cols: dict[str, Any], meta: dict[str, Any], lo: int, hi: int) -> ModelBatch:
    n = hi - lo
    numeric = np.column_stack([cols["numeric"][lo:hi], cols["score"][lo:hi]])
    categorical = [cols[c][lo:hi] for c in meta["categorical"]] + [
        [str(int(p)) for p in cols["prediction"][lo:hi]]
    ]
    return ModelBatch(
        "demo",
        ["v1"] * n,
        cols["timestamp"][lo:hi],
        numeric,
        categorical,
        np.ones(n, bool),
        [str(i) for i in range(lo, hi)],
        np.arange(n, dtype=np.int64),
    )


def _results(windows: list[Any], meta: dict[str, Any], origin: int) -> list[dict[str, Any]]:
    size_ms = meta["window"] * 100
    out = []
    for w in sorted(windows, key=lambda w: w.start_ms):
        stats = {
            c.feature: {
                k: c.statistics.get(k)
                for k in ("psi", "ks", "ks_pvalue", "chi2_pvalue", "js", "wasserstein")
                if k in c.statistics
            }
            for c in w.columns
            if c.feature not in ("score", "prediction")
        }
        flagged = [
            c.feature for c in w.columns if c.drift and c.feature not in ("score", "prediction")
        ]
        out.append({"window": (w.start_ms - origin) // size_ms, "flagged": flagged, "stats": stats})
    return out


def _agreement(results: list[dict[str, Any]], meta: dict[str, Any]) -> dict[str, Any]:
    drifted = {d["feature"] for d in meta["drift"]}
    tp = fp = fn = 0
    false_alarms: dict[str, int] = {}
    for r in results:
        truth = drifted if r["window"] >= meta["drift_start_window"] else set()
        flagged = set(r["flagged"])
        tp, fn, fp = tp + len(flagged & truth), fn + len(truth - flagged), fp + len(flagged - truth)
        for f in flagged - truth:
            false_alarms[f] = false_alarms.get(f, 0) + 1
    return {
        "true_positives": tp,
        "false_negatives": fn,
        "false_positives": fp,
        "false_positives_by_feature": dict(sorted(false_alarms.items())),
    }


def performance(smoke: bool, db: str = "sqlite") -> dict[str, Any]:
    """Predictions then labels, each file replayed in event-time order through the label join,
    checkpointed into a fresh ``db`` database; per window the realized and estimated metrics
    NannyML reports."""
    from monitor.pipeline.files import replay
    from monitor.store import Store
    from monitor.store.performance import PerformanceRepository

    folder, meta = _meta(smoke)
    ref = _columns(folder, "reference", meta)
    with database(db) as url:
        started = time.perf_counter()
        origin = json.loads((folder / "events.jsonl").open().readline())["timestamp"]
        cfg = _config(meta, url, origin, labels="labels")
        store = Store(cfg.database_url)
        store.upgrade()
        store.save_reference(_reference(cfg, ref, meta))
        report = replay(cfg, store, [folder / "events.jsonl"], labels=[folder / "labels.jsonl"])
        rows = PerformanceRepository(store).windows("demo")
        seconds = time.perf_counter() - started
        store.engine.dispose()
    size_ms = meta["window"] * 100
    metrics = ("roc_auc", "f1", "accuracy")
    windows = [
        {
            "window": (r["window_start"] - origin) // size_ms,
            "realized": {m: r["metrics"].get(m) for m in (*metrics, "roc_auc_error_bound")},
            "estimated": {m: (r["estimated"] or {}).get(m) for m in metrics},
        }
        for r in sorted(rows, key=lambda r: r["window_start"])
    ]
    return {
        "tool": "monitor",
        "version": metadata.version("monitor"),
        "mode": "performance",
        "db": db,
        "events": meta["n_events"],
        "labels": report.labels,
        "seconds": seconds,
        "events_per_s": meta["n_events"] / seconds,
        "peak_rss_mb": peak_rss_mb(),
        "windows": windows,
        "smoke": smoke,
    }


def run(mode: str, smoke: bool, db: str = "sqlite") -> dict[str, Any]:
    if mode == "performance":
        return performance(smoke, db)
    folder, meta = _meta(smoke)
    ref = _columns(folder, "reference", meta)
    with database(db) as url:
        if mode == "compute":
            events = _columns(folder, "events", meta)
            origin = int(events["timestamp"][0])
            cfg = _config(meta, "sqlite://", origin)
            refs = MemoryReferences()
            refs.save_reference(_reference(cfg, ref, meta))
            engine = Engine(cfg, refs)
            n = len(events["timestamp"])
            step = meta["window"]
            batches = [_batch(events, meta, lo, min(lo + step, n)) for lo in range(0, n, step)]
            preload()  # before the clock, as the peers' libraries and fits load before theirs
            started = time.perf_counter()
            windows = []
            for b in batches:  # one window's columns at a time, as the peers get them
                engine.process("s", Decoded({"demo": b}, [], len(b)))
                windows += close(engine, engine.watermark())
            windows += flush(engine)
            seconds = time.perf_counter() - started
        else:
            from monitor.pipeline.files import replay
            from monitor.store import Store

            started = time.perf_counter()
            first = json.loads((folder / "events.jsonl").open().readline())["timestamp"]
            cfg = _config(meta, url, first)
            store = Store(cfg.database_url)
            store.upgrade()
            store.save_reference(_reference(cfg, ref, meta))
            report = replay(cfg, store, [folder / "events.jsonl"])
            windows, n, origin = report.windows, meta["n_events"], first
            seconds = time.perf_counter() - started
            store.engine.dispose()
    results = _results(windows, meta, origin)
    return {
        "tool": "monitor",
        "version": metadata.version("monitor"),
        "variant": "default",
        "mode": mode,
        "db": None if mode == "compute" else db,
        "events": n,
        "seconds": seconds,
        "events_per_s": n / seconds,
        "windows_total": meta["n_windows"],
        "windows_measured": [r["window"] for r in results],
        "peak_rss_mb": peak_rss_mb(),
        "agreement": _agreement(results, meta),
        "windows": results,
        "smoke": smoke,
        "data": str(folder),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=["compute", "e2e", "performance"], required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    result = run(args.mode, args.smoke, args.db)
    args.out.write_text(json.dumps(result, indent=1))
    print(
        f"monitor {args.mode}: {result['events_per_s']:,.0f} events/s, "
        f"{result['peak_rss_mb']:.0f} MB, agreement {result.get('agreement')}"
    )


if __name__ == "__main__":
    main()
