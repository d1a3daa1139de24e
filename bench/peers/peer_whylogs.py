"""whylogs: a profile of the reference (once) and of each window (``why.log(df).view()``), then
its drift report's scores (``calculate_drift_scores``, the algorithm behind its drift summary):
KS on the profiles' KLL sketches for numeric columns, chi-square on frequent items for
categorical ones.

Flags: columns whose ``drift_category`` is ``DRIFT`` (p < 0.05; ``POSSIBLE_DRIFT`` is p < 0.15
and is not counted as a flag).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
import whylogs as why
from common import Meta, WindowResult, number, window_rows
from whylogs.viz.drift.column_drift_algorithms import calculate_drift_scores

DISTRIBUTION = "whylogs"
DEFAULT_WINDOWS: int | None = None
VARIANTS: dict[str, dict[str, Any]] = {"default": {}}


def fit(meta: Meta, reference: pd.DataFrame, variant: str) -> Any:
    return why.log(reference[list(meta.features)]).view()


def detect(
    meta: Meta, fitted: Any, events: pd.DataFrame, windows: Sequence[int]
) -> list[WindowResult]:
    results = []
    for w in windows:
        view = why.log(window_rows(meta, events, w)[list(meta.features)]).view()
        scores = calculate_drift_scores(
            target_view=view, reference_view=fitted, with_thresholds=True
        )
        stats = {
            f: {
                "method": s["algorithm"],
                "statistic": number(s["statistic"]),
                "p_value": number(s["pvalue"]),
                "category": s["drift_category"],
            }
            for f, s in scores.items()
            if s is not None
        }
        flagged = [f for f in meta.features if stats.get(f, {}).get("category") == "DRIFT"]
        results.append(WindowResult(w, flagged, stats))
    return results
