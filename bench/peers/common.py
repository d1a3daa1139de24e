"""What every peer shares: loading the benchmark data, the window plan and the result records.

Runs inside each peer's own virtualenv (numpy and pandas only; never imports ``monitor``).
The data set is written by ``bench/peers/data.py``; ``meta.json`` describes it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Meta:
    """The data set's description (``meta.json``)."""

    folder: Path
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    window: int
    n_windows: int
    n_events: int
    drift_start_window: int
    drifted: tuple[str, ...]

    @property
    def features(self) -> tuple[str, ...]:
        return self.numeric + self.categorical

    @classmethod
    def load(cls, folder: Path) -> Meta:
        raw = json.loads((folder / "meta.json").read_text())
        return cls(
            folder=folder,
            numeric=tuple(raw["numeric"]),
            categorical=tuple(raw["categorical"]),
            window=raw["window"],
            n_windows=raw["n_windows"],
            n_events=raw["n_events"],
            drift_start_window=raw["drift_start_window"],
            drifted=tuple(sorted({d["feature"] for d in raw["drift"]})),
        )


@dataclass
class WindowResult:
    """One window's verdict: the flagged features and, per feature, the statistics reported."""

    window: int
    flagged: list[str]
    stats: dict[str, dict[str, Any]] = field(default_factory=dict)


def load_npz(meta: Meta, name: str) -> pd.DataFrame:
    """``reference`` or ``events`` as a DataFrame: features, timestamp, score, prediction, label.

    Categorical features are object columns of ``str`` (NaN where missing), as a user's would be.
    """
    z = np.load(meta.folder / f"{name}.npz")
    df = pd.DataFrame(z["numeric"], columns=list(meta.numeric))
    for c in meta.categorical:
        codes = z[f"{c}__codes"]
        df[c] = pd.Categorical.from_codes(codes, categories=z[f"{c}__levels"]).astype(object)
    for c in ("timestamp", "score", "prediction", "label"):
        df[c] = z[c]
    return df


def load_jsonl(meta: Meta) -> pd.DataFrame:
    """``events.jsonl`` read the way pandas documents JSON lines (``read_json(lines=True)``),
    the nested ``features`` objects flattened into columns."""
    events = pd.read_json(
        meta.folder / "events.jsonl", lines=True, dtype=False, convert_dates=False
    )
    features = pd.DataFrame.from_records(events.pop("features").tolist())
    return pd.concat([features, events], axis=1)


def add_labels(meta: Meta, events: pd.DataFrame) -> pd.DataFrame:
    """``events`` with ``labels.jsonl``'s label joined on prediction_id."""
    labels = pd.read_json(
        meta.folder / "labels.jsonl", lines=True, dtype=False, convert_dates=False
    )
    return events.merge(labels[["prediction_id", "label"]], on="prediction_id", how="left")


def window_plan(meta: Meta, measured: int | None) -> list[int]:
    """All windows, or ``measured`` of them evenly spread (first and last included)."""
    if measured is None or measured >= meta.n_windows:
        return list(range(meta.n_windows))
    return sorted({int(i) for i in np.linspace(0, meta.n_windows - 1, measured).round()})


def window_rows(meta: Meta, df: pd.DataFrame, w: int) -> pd.DataFrame:
    """Rows of window ``w`` (events are in event-time order, ``meta.window`` per window)."""
    return df.iloc[w * meta.window : (w + 1) * meta.window]


def number(x: Any) -> float | int | str | bool | None:
    """A JSON-safe scalar: numpy scalars unwrapped, inf and nan as strings, None kept."""
    if x is None:
        return None
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    v = float(x)
    return v if math.isfinite(v) else str(v)


def agreement(meta: Meta, results: Sequence[WindowResult]) -> dict[str, Any]:
    """How the flags compare with the injected drift (features x windows, measured ones only)."""
    tp = fp = fn = 0
    false_alarms: dict[str, int] = {}
    for r in results:
        truth = set(meta.drifted) if r.window >= meta.drift_start_window else set()
        flagged = set(r.flagged)
        tp += len(flagged & truth)
        fn += len(truth - flagged)
        fp += len(flagged - truth)
        for f in flagged - truth:
            false_alarms[f] = false_alarms.get(f, 0) + 1
    return {
        "true_positives": tp,
        "false_negatives": fn,
        "false_positives": fp,
        "false_positives_by_feature": dict(sorted(false_alarms.items())),
    }
