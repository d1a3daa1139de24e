"""The label join: labels joined and counted per second, and memory against the in-memory cap.

Predictions go in first (checkpointed every 50,000), then their labels, in batches of 5,000,
each process in a fresh subprocess with SQLite. With a cap below the number of predictions, the
records beyond it are looked up in SQL.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from typing import Any

from bench import peak_rss_mb


def _child(n: str, cap: str) -> None:
    from monitor.config import parse_config
    from monitor.engine import Engine
    from monitor.events import EventDecoder, LabelDecoder
    from monitor.layout import Layout
    from monitor.pipeline.checkpoint import Checkpointer
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
    from tests.helpers import rows_of

    total = int(n)
    spec = StreamSpec(features=default_features(), seed=4)
    features = {f.name: {"kind": f.kind} for f in spec.features}
    with tempfile.TemporaryDirectory() as tmp:
        cfg = parse_config(
            {
                "database_url": f"sqlite:///{tmp}/l.db",
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
        engine = Engine(cfg, store)
        checkpointer = Checkpointer(engine, store, "bench")
        engine.join.lookup = lambda key, ids: checkpointer.performance.lookup("bench", key, ids)
        events, labels = EventDecoder(cfg), LabelDecoder(cfg)
        label_batches = []
        for offset in range(0, total, 50_000):
            cols = generate(spec, min(50_000, total - offset), offset)
            engine.process(
                "predictions:0", events.decode_lines(to_jsonl(spec, cols)), offset + len(cols)
            )
            checkpointer.commit()
            lines = labels_to_jsonl(spec, cols).splitlines()
            label_batches += [
                labels.decode_values(lines[i : i + 5000]) for i in range(0, len(lines), 5000)
            ]
        started = time.perf_counter()
        for i, batch in enumerate(label_batches):
            engine.process_labels("labels:0", batch)
            if i % 10 == 9:
                checkpointer.commit()
        checkpointer.commit()
        seconds = time.perf_counter() - started
    print(json.dumps({"labels": total, "seconds": seconds, "rss_mb": peak_rss_mb()}))


def _run(n: int, cap: int) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.labels", str(n), str(cap)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    r = json.loads(out.strip().splitlines()[-1])
    return {
        "labels_per_s": r["labels"] / r["seconds"],
        "rss_mb": r["rss_mb"],
        "cap": cap,
        "predictions": n,
    }


def run(smoke: bool = False) -> dict[str, Any]:
    n = 20_000 if smoke else 500_000
    caps = (1_000_000, 10_000) if smoke else (1_000_000, 100_000)
    return {"runs": [_run(n, cap) for cap in caps]}


def render(r: dict[str, Any]) -> str:
    lines = [
        "| label join (join, count, checkpoint; SQLite) | labels/s | peak RSS MB |",
        "|---|---:|---:|",
    ]
    for x in r["runs"]:
        where = (
            "all records in memory"
            if x["cap"] >= x["predictions"]
            else f"in-memory cap {x['cap']:,}: the rest looked up in SQL"
        )
        lines.append(
            f"| {x['predictions']:,} predictions then their labels, {where} | "
            f"{x['labels_per_s']:,.0f} | {x['rss_mb']:.0f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    _child(*sys.argv[1:])
