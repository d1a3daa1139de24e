"""Evidently: one ``Report([DataDriftPreset(...)], include_tests=True)`` run per window against
the reference ``Dataset`` (built once), the way its docs show batch drift checks.

Variants: ``default`` (Evidently picks the method per column: for >1000 rows, normed Wasserstein
for numeric and Jensen-Shannon for categorical, threshold 0.1) and ``psi`` (PSI for every column,
threshold 0.1). Flags: the preset's own per-column "Value Drift" tests that FAIL.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
from common import Meta, WindowResult, number, window_rows
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset

DISTRIBUTION = "evidently"
DEFAULT_WINDOWS: int | None = 10  # about 3 s per window: 10 evenly spread windows by default
VARIANTS: dict[str, dict[str, Any]] = {"default": {}, "psi": {"method": "psi"}}


def fit(meta: Meta, reference: pd.DataFrame, variant: str) -> Any:
    definition = DataDefinition(
        numerical_columns=list(meta.numeric), categorical_columns=list(meta.categorical)
    )
    return (
        definition,
        Dataset.from_pandas(reference[list(meta.features)], data_definition=definition),
        variant,
    )


def detect(
    meta: Meta, fitted: Any, events: pd.DataFrame, windows: Sequence[int]
) -> list[WindowResult]:
    definition, reference, variant = fitted
    results = []
    for w in windows:
        current = Dataset.from_pandas(
            window_rows(meta, events, w)[list(meta.features)], data_definition=definition
        )
        report = Report([DataDriftPreset(**VARIANTS[variant])], include_tests=True)
        snapshot = report.run(current_data=current, reference_data=reference).dict()
        stats = {}
        for m in snapshot["metrics"]:
            cfg = m["config"]
            if cfg["type"].endswith("ValueDrift"):
                stats[cfg["column"]] = {
                    "method": cfg["method"],
                    "statistic": number(m["value"]),
                    "threshold": number(cfg["threshold"]),
                }
        flagged = [
            t["metric_config"]["params"]["column"]
            for t in snapshot["tests"]
            if t["metric_config"]["params"]["type"].endswith("ValueDrift") and t["status"] == "FAIL"
        ]
        results.append(WindowResult(w, sorted(flagged, key=meta.features.index), stats))
    return results
