"""The label join: labels joined and counted per second, and memory against the in-memory cap,
on SQLite and on PostgreSQL.

Predictions go in first (checkpointed every 50,000), then their labels, in batches of 5,000,
each run in a fresh subprocess and database; figures are medians of ``repeat`` runs. With a cap
below the number of predictions, the records beyond it are looked up in SQL. The yardstick is
the fastest join Python has for the same labels: a dict from prediction id to prediction, built
before the clock, looked up per label and compared (nothing kept, nothing persisted).
"""

from __future__ import annotations

import cProfile
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

from bench import database, medians, peak_rss_mb


def _dict_join(predictions: dict[str, Any], batches: list[Any]) -> float:
    """The yardstick's rate: labels per second through a dict lookup and one comparison."""
    started, hits, n = time.perf_counter(), 0, 0
    for batch in batches:
        get = predictions.get
        hits += sum(get(i) == y for i, y in zip(batch.prediction_ids, batch.labels))
        n += len(batch.prediction_ids)
    return n / (time.perf_counter() - started)


def _child(n: str, cap: str, url: str) -> None:
    from monitor.config import parse_config
    from monitor.events import EventDecoder, LabelDecoder
    from monitor.layout import Layout
    from monitor.pipeline.build import build
    from monitor.reference import ReferenceProfile
    from monitor.store import Store
    from monitor.synth import (
        StreamSpec,
        default_features,
        generate,
        labels_to_jsonl,
        reference_rows,
        to_jsonl,
    )
    from monitor.values import categories
    from tests.helpers import rows_of

    total = int(n)
    spec = StreamSpec(features=default_features(), seed=4)
    features = {f.name: {"kind": f.kind} for f in spec.features}
    cfg = parse_config(
        {
            "database_url": url,
            "models": {
                "demo": {
                    "window": "1000s",
                    "features": features,
                    "reference": {"baseline_events": 0},
                    "topics": {"labels": "labels"},
                    "labels": {"max_pending": int(cap)},
                }
            },
        }
    )
    store = Store(cfg.database_url)
    store.upgrade()
    store.save_reference(
        ReferenceProfile.build(
            "demo",
            "*",
            Layout.from_model(cfg.models["demo"]),
            rows_of(reference_rows(spec, 50_000)),
            1000,
        )
    )
    pipeline = build(cfg, store, "bench")
    engine, checkpointer = pipeline.engine, pipeline.checkpointer
    events, labels = EventDecoder(cfg), LabelDecoder(cfg)
    label_batches, predictions = [], {}
    for offset in range(0, total, 50_000):
        cols = generate(spec, min(50_000, total - offset), offset)
        decoded = events.decode_lines(to_jsonl(spec, cols))
        engine.process("predictions:0", decoded, offset + len(cols))
        checkpointer.commit()
        batch = decoded.batches["demo"]
        predictions.update(zip(batch.prediction_ids, categories(batch.categorical[-1])))
        lines = labels_to_jsonl(spec, cols).splitlines()
        label_batches += [
            labels.decode_values(lines[i : i + 5000]) for i in range(0, len(lines), 5000)
        ]
    # BENCH_PROFILE=path: a cProfile of the timed part, for finding what dominates
    profile = cProfile.Profile() if os.environ.get("BENCH_PROFILE") else None
    started = time.perf_counter()
    if profile is not None:
        profile.enable()
    for i, decoded_labels in enumerate(label_batches):
        engine.process_labels("labels:0", decoded_labels)
        if i % 10 == 9:
            checkpointer.commit()
    checkpointer.commit()
    seconds = time.perf_counter() - started
    if profile is not None:
        profile.disable()
        profile.dump_stats(os.environ["BENCH_PROFILE"])
    rss = peak_rss_mb()
    store.engine.dispose()
    yardstick = _dict_join(predictions, [b.batches["demo"] for b in label_batches])
    print(json.dumps({"labels": total, "seconds": seconds, "rss_mb": rss, "yardstick": yardstick}))


def _run(n: int, cap: int, db: str) -> dict[str, Any]:
    with database(db) as url:
        out = subprocess.run(
            [sys.executable, "-m", "bench.labels", str(n), str(cap), url],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    r = json.loads(out.strip().splitlines()[-1])
    return {
        "labels_per_s": r["labels"] / r["seconds"],
        "yardstick": r["yardstick"],
        "rss_mb": r["rss_mb"],
        "cap": cap,
        "predictions": n,
        "db": db,
    }


def run(smoke: bool = False) -> dict[str, Any]:
    repeat = 1 if smoke else 3
    n = 20_000 if smoke else 500_000
    caps = (1_000_000, 10_000) if smoke else (1_000_000, 100_000)
    return {
        "runs": [
            medians([_run(n, cap, db) for _ in range(repeat)])
            for db in ("sqlite", "postgresql")
            for cap in caps
        ]
    }


def render(r: dict[str, Any]) -> str:
    yardstick = statistics.median(x["yardstick"] for x in r["runs"])
    lines = [
        (
            "| label join (join, count, checkpoint) | labels/s | ÷ yardstick (dict join) "
            "| peak RSS MB |"
        ),
        "|---|---:|---:|---:|",
        (
            f"| **yardstick: a Python dict of prediction id to prediction, one lookup and one "
            f"comparison per label** | {yardstick:,.0f} | 100% | |"
        ),
    ]
    for x in r["runs"]:
        where = (
            "all records in memory"
            if x["cap"] >= x["predictions"]
            else f"in-memory cap {x['cap']:,}: the rest looked up in SQL"
        )
        title = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}[x["db"]]
        lines.append(
            f"| {title}: {x['predictions']:,} predictions then their labels, {where} | "
            f"{x['labels_per_s']:,.0f} | {x['labels_per_s'] / yardstick:.1%} | "
            f"{x['rss_mb']:.0f} |"
        )
    return "\n".join(lines) + (
        "\n\nThe yardstick is the median over the rows' runs (the same labels each time); "
        "NannyML's in-memory performance calculation on the same kind of data is in the peers' "
        "table below."
    )


if __name__ == "__main__":
    _child(*sys.argv[1:])
