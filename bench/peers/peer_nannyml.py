"""NannyML: ``UnivariateDriftCalculator`` (KS for continuous, chi2 for categorical), fitted on the
reference, ``chunk_size`` = one window, all windows in one ``calculate`` call (its intended use);
plus realized performance and CBPE for the binary classifier (score, prediction, label).

Flags: NannyML's own ``alert`` column. KS's value is the D statistic and its alert threshold is
NannyML's default (reference chunks' mean + 3 std of D); chi2's value is the statistic and it
alerts on p < 0.05.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import nannyml as nml
import pandas as pd
from common import Meta, WindowResult, number, window_rows

DISTRIBUTION = "nannyml"
DEFAULT_WINDOWS: int | None = None
VARIANTS: dict[str, dict[str, Any]] = {"default": {}}
METHODS = {"numeric": "kolmogorov_smirnov", "categorical": "chi2"}
PERFORMANCE_METRICS = ["roc_auc", "f1", "accuracy"]


def fit(meta: Meta, reference: pd.DataFrame, variant: str) -> Any:
    calc = nml.UnivariateDriftCalculator(
        column_names=list(meta.features),
        treat_as_categorical=list(meta.categorical),
        continuous_methods=[METHODS["numeric"]],
        categorical_methods=[METHODS["categorical"]],
        chunk_size=meta.window,
    )
    return calc.fit(reference[list(meta.features)])


def detect(
    meta: Meta, fitted: Any, events: pd.DataFrame, windows: Sequence[int]
) -> list[WindowResult]:
    rows = (
        pd.concat([window_rows(meta, events, w) for w in windows])
        if len(windows) < meta.n_windows
        else events
    )
    df = fitted.calculate(rows[list(meta.features)]).filter(period="analysis").to_df()
    results = []
    for i, w in enumerate(windows):
        flagged, stats = [], {}
        for f in meta.features:
            method = METHODS["categorical" if f in meta.categorical else "numeric"]
            cell = df[(f, method)].iloc[i]
            stats[f] = {
                "method": method,
                "statistic": number(cell["value"]),
                "upper_threshold": number(cell["upper_threshold"]),
            }
            if bool(cell["alert"]):
                flagged.append(f)
        results.append(WindowResult(w, flagged, stats))
    return results


def extra(meta: Meta, reference: pd.DataFrame, events: pd.DataFrame) -> dict[str, Any]:
    """Realized performance and CBPE per window, each timed on its own."""
    args = {
        "y_pred_proba": "score",
        "y_pred": "prediction",
        "y_true": "label",
        "problem_type": "classification_binary",
        "metrics": PERFORMANCE_METRICS,
        "chunk_size": meta.window,
    }
    out: dict[str, Any] = {}
    t = time.perf_counter()
    realized = nml.PerformanceCalculator(**args).fit(reference).calculate(events)
    out["realized_seconds"] = time.perf_counter() - t
    t = time.perf_counter()
    estimated = nml.CBPE(**args).fit(reference).estimate(events.drop(columns=["label"]))
    out["cbpe_seconds"] = time.perf_counter() - t
    for name, res in (("realized", realized), ("cbpe", estimated)):
        df = res.filter(period="analysis").to_df()
        out[name] = [
            {
                "window": i,
                **{m: number(df[(m, "value")].iloc[i]) for m in PERFORMANCE_METRICS},
                "alerts": [m for m in PERFORMANCE_METRICS if bool(df[(m, "alert")].iloc[i])],
            }
            for i in range(len(df))
        ]
    return out
