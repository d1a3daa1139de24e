"""The calibrated estimate end to end: a reference with labels whose scores are miscalibrated,
then ``monitor replay`` of a covariate-shifted stream with its labels (SQLite and PostgreSQL).

The reference's isotonic map travels in its payload to the performance windows, so the estimate
of each window (written before its labels are counted) tracks the realized accuracy; without the
reference's labels (no map) it is off by several points.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from monitor.config import parse_config
from monitor.pipeline.files import replay
from monitor.reference import ReferenceProfile
from monitor.store import Store
from monitor.store.performance import PerformanceRepository
from monitor.synth import (
    DriftSpec,
    StreamSpec,
    default_features,
    generate,
    labels_to_jsonl,
    reference_rows,
    to_jsonl,
)
from tests.helpers import rows_of

N = 60_000
SPEC = StreamSpec(
    features=default_features(3),
    drift=(DriftSpec("num_00", 1.0, N // 2),),
    interval_ms=100,
    seed=21,
)


def squared(cols):
    """The same model with its scores squared: ranked alike, far from calibrated."""
    return replace(cols, score=cols.score**2)


def gaps(db_url: str, tmp_path: Path, with_labels: bool) -> list[float]:
    cfg = parse_config(
        {
            "checkpoint_interval": 0,
            "models": {
                "m": {
                    "window": "20m",
                    "reference": {"baseline_events": 0},
                    "features": {f.name: {"kind": f.kind} for f in SPEC.features},
                    "labels": {"horizon": "1d"},
                }
            },
        }
    )
    store = Store(db_url)
    store.upgrade()
    ref = squared(reference_rows(SPEC, 20_000))
    rows = rows_of(ref)
    if with_labels:
        rows["label"] = ref.label.tolist()
    store.save_reference(ReferenceProfile.for_model("m", "*", cfg.models["m"], rows))
    cols = squared(generate(SPEC, N))
    events, labels = tmp_path / "events.jsonl", tmp_path / "labels.jsonl"
    events.write_bytes(to_jsonl(SPEC, cols).replace(b'"model_id":"demo"', b'"model_id":"m"'))
    labels.write_bytes(labels_to_jsonl(SPEC, cols).replace(b'"model_id":"demo"', b'"model_id":"m"'))
    replay(cfg, store, [events], labels=[labels])
    rows_ = PerformanceRepository(store).windows("m")
    store.engine.dispose()
    assert len(rows_) == 5 and all(r["labeled"] == r["predictions"] for r in rows_)
    return [abs(r["estimated"]["accuracy"] - r["metrics"]["accuracy"]) for r in rows_]


def test_the_reference_calibration_reaches_the_windows_estimate(
    db_url: str, tmp_path: Path
) -> None:
    calibrated = gaps(db_url, tmp_path, with_labels=True)
    uncalibrated = gaps(db_url.replace("monitor.db", "plain.db"), tmp_path, with_labels=False)
    assert max(calibrated) <= 0.015, calibrated  # 12,000 events a window: noise is about 0.004
    assert np.mean(uncalibrated) > 3 * np.mean(calibrated), (calibrated, uncalibrated)
