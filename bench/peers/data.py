"""The peer benchmark's data set, built once from :mod:`monitor.synth` into a cache folder.

20 numeric and 2 categorical features (10 and 50 levels); a 100,000-row reference and
1,000,000 events in windows of 10,000 (100 windows), with drift injected into five features
from the middle window on: a mean shift of 0.5 std into ``num_00`` and ``num_02`` (model
inputs; ``num_02`` is skewed), ``num_05`` and ``num_10`` (skewed), and 10% of ``cat10``
replaced by the unseen level ``cat10_new``.

Files written (``--smoke``: 3 windows and a 20,000-row reference, under ``smoke/``):

- ``meta.json``: feature names, window size and count, the injected drift, the stream spec;
- ``reference.npz`` and ``events.npz``: the columns (categorical columns as int codes into
  ``<name>__levels``, -1 for missing), for peers to load without importing ``monitor``;
- ``events.jsonl`` and ``labels.jsonl``: the same events in the event contract.

Run from the repository root, in the project's venv::

    python bench/peers/data.py [--out bench/.data] [--smoke] [--force]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from monitor.synth import (
    Columns,
    DriftSpec,
    StreamSpec,
    default_features,
    generate,
    labels_to_jsonl,
    reference_rows,
    to_jsonl,
)

SEED = 42
WINDOW = 10_000
CHUNK = 100_000
DRIFTED_NUMERIC = ("num_00", "num_02", "num_05", "num_10")
NUMERIC_SHIFT = 0.5
DRIFTED_CATEGORICAL = "cat10"
CATEGORICAL_SHARE = 0.1


def stream_spec(n_windows: int) -> StreamSpec:
    """The benchmark stream: drift from the first event of window ``n_windows // 2`` on."""
    start = n_windows // 2 * WINDOW
    drift = tuple(DriftSpec(f, NUMERIC_SHIFT, start) for f in DRIFTED_NUMERIC)
    drift += (DriftSpec(DRIFTED_CATEGORICAL, CATEGORICAL_SHARE, start),)
    return StreamSpec(features=default_features(), drift=drift, seed=SEED)


def _levels(spec: StreamSpec) -> dict[str, np.ndarray]:
    """Every value a categorical feature can take (drifted or not), sorted."""
    return {
        f.name: np.array(sorted([f"{f.name}_{k}" for k in range(f.levels)] + [f"{f.name}_new"]))
        for f in spec.features
        if f.kind == "categorical"
    }


def _arrays(cols: Columns, levels: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    out = {
        "timestamp": cols.timestamp,
        "numeric": cols.numeric,
        "score": cols.score,
        "prediction": cols.prediction,
        "label": cols.label,
    }
    for name, values in zip(cols.categorical_names, cols.categorical, strict=True):
        present = np.array([v is not None for v in values.tolist()])
        codes = np.full(len(values), -1, dtype=np.int32)
        codes[present] = np.searchsorted(levels[name], values[present].astype(str))
        out[f"{name}__codes"] = codes
    return out


def build(out: Path, n_reference: int, n_windows: int) -> dict[str, object]:
    """Write the data set into ``out`` and return its metadata."""
    out.mkdir(parents=True, exist_ok=True)
    spec = stream_spec(n_windows)
    levels = _levels(spec)
    level_arrays = {f"{name}__levels": v for name, v in levels.items()}
    n_events = n_windows * WINDOW
    np.savez(
        out / "reference.npz", **_arrays(reference_rows(spec, n_reference), levels), **level_arrays
    )

    parts = []
    with open(out / "events.jsonl", "wb") as events, open(out / "labels.jsonl", "wb") as labels:
        for offset in range(0, n_events, CHUNK):
            cols = generate(spec, min(CHUNK, n_events - offset), offset=offset)
            events.write(to_jsonl(spec, cols))
            labels.write(labels_to_jsonl(spec, cols))
            parts.append(_arrays(cols, levels))
    np.savez(
        out / "events.npz",
        **{k: np.concatenate([p[k] for p in parts]) for k in parts[0]},
        **level_arrays,
    )
    meta = {
        "numeric": [f.name for f in spec.features if f.kind == "numeric"],
        "categorical": list(levels),
        "window": WINDOW,
        "n_windows": n_windows,
        "n_reference": n_reference,
        "n_events": n_events,
        "drift": [asdict(d) for d in spec.drift],
        "drift_start_window": spec.drift[0].start // WINDOW,
        "spec": asdict(spec),
    }
    (out / "meta.json").write_text(json.dumps(meta, indent=1))
    return meta


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench/.data"))
    parser.add_argument("--smoke", action="store_true", help="3 windows, 20,000 reference rows")
    parser.add_argument("--force", action="store_true", help="rebuild even if present")
    args = parser.parse_args(argv)
    out = args.out / "smoke" if args.smoke else args.out
    if (out / "meta.json").exists() and not args.force:
        print(f"{out}: already built", file=sys.stderr)
        return 0
    t = time.perf_counter()
    meta = build(out, 20_000 if args.smoke else 100_000, 3 if args.smoke else 100)
    print(
        f"{out}: {meta['n_events']:,} events, {meta['n_reference']:,} reference rows "
        f"in {time.perf_counter() - t:.1f} s",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
