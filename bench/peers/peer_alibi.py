"""alibi-detect: ``KSDrift`` over the numeric matrix and ``ChiSquareDrift`` over the categorical
codes, both built once on the reference, ``predict(window, drift_type="feature")`` per window.

Categorical values are coded by the reference's levels, unseen values sharing one extra code.
Flags: per-feature ``is_drift`` at ``p_val=0.05`` (feature-wise, so no multiple-test correction,
like the other peers' per-column tests).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from alibi_detect.cd import ChiSquareDrift, KSDrift
from common import Meta, WindowResult, number, window_rows

DISTRIBUTION = "alibi-detect"
DEFAULT_WINDOWS: int | None = None
VARIANTS: dict[str, dict[str, Any]] = {"default": {}}
P_VAL = 0.05


def _codes(df: pd.DataFrame, levels: dict[str, pd.Index]) -> np.ndarray:
    cols = []
    for c, lv in levels.items():
        codes = pd.Categorical(df[c], categories=lv).codes.astype(np.int64)
        cols.append(np.where(codes < 0, len(lv), codes))
    return np.column_stack(cols)


def fit(meta: Meta, reference: pd.DataFrame, variant: str) -> Any:
    levels = {c: pd.Index(reference[c].dropna().unique()) for c in meta.categorical}
    ks = KSDrift(reference[list(meta.numeric)].to_numpy(), p_val=P_VAL)
    chi2 = ChiSquareDrift(_codes(reference, levels), p_val=P_VAL)
    return ks, chi2, levels


def detect(
    meta: Meta, fitted: Any, events: pd.DataFrame, windows: Sequence[int]
) -> list[WindowResult]:
    ks, chi2, levels = fitted
    results = []
    for w in windows:
        rows = window_rows(meta, events, w)
        num = ks.predict(rows[list(meta.numeric)].to_numpy(), drift_type="feature")["data"]
        cat = chi2.predict(_codes(rows, levels), drift_type="feature")["data"]
        stats, flagged = {}, []
        for names, data, method in ((meta.numeric, num, "ks"), (meta.categorical, cat, "chi2")):
            for i, f in enumerate(names):
                stats[f] = {
                    "method": method,
                    "statistic": number(data["distance"][i]),
                    "p_value": number(data["p_val"][i]),
                }
                if data["is_drift"][i]:
                    flagged.append(f)
        results.append(WindowResult(w, flagged, stats))
    return results
