"""Drift of a closed window: statistics, data quality and severity per column, and the
dataset-level share of drifted features. Pure: a function of merged sketches, the reference
profile and the model's config.

Numeric columns: PSI and Jensen-Shannon over the coarse (reference-decile) bins, KS over the
fine bins (with its error bound), Wasserstein over bin representatives, normalised by the
reference standard deviation. Categorical columns: PSI and Jensen-Shannon over the vocabulary plus
"unseen", and the chi-square test of homogeneity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from monitor.config import ModelConfig, Threshold
from monitor.layout import PREDICTION, SCORE
from monitor.reference import CategoricalProfile, NumericProfile
from monitor.sketches import Geometry, Sketch
from monitor.stats import STATISTICS, chi2, js_distance, psi
from monitor.stats.rows import js_rows, ks_rows, psi_rows, wasserstein_rows

__all__ = ["ColumnResult", "DatasetResult", "SEVERITIES", "evaluate", "severity_of"]

SEVERITIES = ("ok", "warning", "critical")


@dataclass(frozen=True)
class ColumnResult:
    """One column of one closed window."""

    feature: str
    kind: str
    count: int  # events the column applies to in the window
    missing: int
    statistics: dict[str, float | None]
    quality: dict[str, Any]
    drift: bool
    severity: str
    previous: dict[str, float | None] | None = None


@dataclass(frozen=True)
class DatasetResult:
    """The window as a whole: how many features drifted, and prediction drift."""

    events: int
    predictions: int
    features: int
    drifted: int
    drifted_share: float
    drifted_features: tuple[str, ...]
    prediction_drift: bool
    severity: str
    baseline: bool = False
    details: dict[str, Any] = field(default_factory=dict)


def severity_of(stat: str, value: float | None, threshold: Threshold | None) -> str:
    """Severity of one value against its threshold; the statistic says which way is worse.

    >>> severity_of("psi", 0.3, Threshold(warning=0.1, critical=0.25))
    'critical'
    >>> severity_of("ks_pvalue", 0.03, Threshold(warning=0.05, critical=0.01))
    'warning'
    """
    if threshold is None or value is None or math.isnan(value):
        return "ok"
    if STATISTICS.get(stat) is None or STATISTICS[stat].higher_is_worse:
        return "critical" if value >= threshold.critical else "warning" if value >= threshold.warning else "ok"
    return "critical" if value <= threshold.critical else "warning" if value <= threshold.warning else "ok"


def _worst(levels: list[str]) -> str:
    return max(levels, key=SEVERITIES.index, default="ok")


def _num(value: float) -> float | None:
    value = float(value)
    return None if math.isnan(value) else value


def _numeric_block(geo: Geometry, counts: np.ndarray, against: np.ndarray, wanted: set[str], n_coarse: int) -> list[dict[str, float | None]]:
    """Every numeric column's statistics at once (rows = columns): ``counts`` against
    ``against`` (the reference, or the previous window), both (columns, width)."""
    block = geo.numeric_reference
    f = counts.shape[0]
    out: list[dict[str, float | None]] = [{} for _ in range(f)]

    def put(name: str, values: np.ndarray) -> None:
        for j, v in enumerate(values.tolist()):
            out[j][name] = None if v != v else v

    cur = counts.astype(np.float64)
    if wanted & {"psi", "js"}:
        starts = geo.coarse_starts(n_coarse)
        if starts is not None:
            ref_c = np.add.reduceat(against.ravel(), starts).reshape(f, -1)
            cur_c = np.add.reduceat(cur.ravel(), starts).reshape(f, -1)
        else:  # columns with fewer bins than coarse bins: one at a time
            width = max(p.coarse(n_coarse).size for p in geo.numeric)
            ref_c, cur_c = np.zeros((f, width)), np.zeros((f, width))
            for j, p in enumerate(geo.numeric):
                g = p.coarse(n_coarse)
                ref_c[j, : g.size] = np.add.reduceat(against[j, : p.n_bins], g)
                cur_c[j, : g.size] = np.add.reduceat(cur[j, : p.n_bins], g)
        if "psi" in wanted:
            put("psi", psi_rows(ref_c, cur_c, 1e-4))
        if "js" in wanted:
            put("js", js_rows(ref_c, cur_c))
    if wanted & {"ks", "ks_pvalue"}:
        statistic, pvalue, bound = ks_rows(against, cur)
        put("ks", statistic)
        put("ks_pvalue", pvalue)
        put("ks_error_bound", bound)
    if "wasserstein" in wanted:
        put("wasserstein", wasserstein_rows(block.points, against, cur, block.scale))
    return out


def _categorical_stats(ref: np.ndarray, cur: np.ndarray, wanted: set[str]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    if "psi" in wanted:
        out["psi"] = _num(psi(ref, cur))
    if "js" in wanted:
        out["js"] = _num(js_distance(ref, cur))
    if wanted & {"chi2", "chi2_pvalue"}:
        if ref.sum() and cur.sum():
            res = chi2(ref, cur)
            out["chi2"], out["chi2_pvalue"] = _num(res.statistic), _num(res.pvalue)
        else:
            out["chi2"] = out["chi2_pvalue"] = None
    return out


def _histogram(prof: NumericProfile, cur: np.ndarray, n_coarse: int) -> dict[str, list]:
    """A compact current distribution (below range, the coarse reference bins, above range) for
    reports: about a dozen integers per feature and window."""
    b = prof.inner_bins
    k = min(n_coarse, b)
    starts = (np.arange(k) * b) // k
    inner = cur[prof.in_range]
    counts = [int(cur[: prof.in_range.start].sum()), *np.add.reduceat(inner, starts).astype(int).tolist(), int(cur[prof.in_range.stop :].sum())]
    return {"edges": prof.edges[np.append(starts, b)].tolist(), "counts": counts}


def _column(
    cfg: ModelConfig,
    prof: NumericProfile | CategoricalProfile,
    cur: np.ndarray,
    missing: int,
    applies: int,
    ref: np.ndarray,
    extra: dict[str, Any],
    previous: np.ndarray | None,
    baseline: bool,
    computed: tuple[dict[str, float | None], dict[str, float | None] | None] | None = None,
) -> ColumnResult:
    wanted = {s for s in cfg.statistics if prof.kind in STATISTICS[s].kinds}
    numeric = isinstance(prof, NumericProfile)
    if computed is not None:
        stats, prev = computed
    else:
        stats = _categorical_stats(ref, cur, wanted)
        prev = _categorical_stats(previous, cur, wanted) if previous is not None and previous.sum() else None
    present = int(cur.sum())
    ref_missing_rate = prof.missing / max(int(ref.sum()) + prof.missing, 1)
    missing_rate = missing / applies if applies else None
    quality: dict[str, Any] = {
        "missing_rate": missing_rate,
        "missing_rate_change": None if missing_rate is None else missing_rate - ref_missing_rate,
        **extra,
    }
    if numeric:
        inside = int(cur[prof.in_range].sum())
        quality["out_of_range"] = (present - inside) / present if present else None
        quality["histogram"] = _histogram(prof, cur, cfg.reference.coarse_bins)
    else:
        quality["unseen_share"] = int(cur[-1]) / present if present else None
        if len(prof.vocab) <= 100:
            quality["histogram"] = {"counts": cur.astype(int).tolist()}
    q = cfg.quality
    quality_levels = [
        severity_of("missing_rate", quality["missing_rate_change"], q.missing_rate),
        severity_of("out_of_range", quality.get("out_of_range"), q.out_of_range),
        severity_of("unseen_share", quality.get("unseen_share"), q.unseen_share),
    ]
    quality["severity"] = _worst(quality_levels)
    drift_levels = [severity_of(s, stats.get(s), cfg.threshold(s)) for s in wanted]
    if prev is not None:
        drift_levels += [severity_of(s, prev.get(s), cfg.threshold(s)) for s in wanted]
    judged = present >= cfg.min_events  # too few values: sampling noise alone crosses thresholds
    if not judged:
        quality["too_few_values"] = True
    drift_severity = "ok" if baseline or not judged else _worst(drift_levels)
    return ColumnResult(
        prof.name,
        prof.kind,
        applies,
        missing,
        stats,
        quality,
        drift_severity != "ok",
        _worst([drift_severity, quality["severity"]]),
        prev,
    )


def evaluate(cfg: ModelConfig, geo: Geometry, window: Sketch, previous: Sketch | None = None) -> tuple[list[ColumnResult], DatasetResult]:
    """Evaluate a merged window sketch against the reference (and the previous window when
    ``compare_previous`` is set)."""
    results: list[ColumnResult] = []
    prev = previous if cfg.compare_previous else None
    wanted = {s for s in cfg.statistics if "numeric" in STATISTICS[s].kinds}
    stats = _numeric_block(geo, window.num_counts, geo.numeric_reference.ref, wanted, cfg.reference.coarse_bins) if geo.numeric else []
    prev_stats = None
    if prev is not None and geo.numeric:
        prev_stats = _numeric_block(geo, window.num_counts, prev.num_counts.astype(np.float64), wanted, cfg.reference.coarse_bins)
    for j, prof in enumerate(geo.numeric):
        cur = window.num_counts[j, : prof.n_bins]
        applies = window.predictions if prof.name in (SCORE, PREDICTION) else window.events
        present = int(cur.sum())
        extra = {
            "min": float(window.num_min[j]) if present else None,
            "max": float(window.num_max[j]) if present else None,
        }
        prev_counts = prev.num_counts[j, : prof.n_bins] if prev is not None else None
        prev_j = prev_stats[j] if prev_stats is not None and prev_counts is not None and prev_counts.sum() else None
        results.append(_column(cfg, prof, cur, int(window.num_missing[j]), applies, prof.counts, extra, prev_counts, window.baseline, (stats[j], prev_j)))
    for j, prof in enumerate(geo.categorical):
        cur = window.cat_counts[j, : prof.n_bins]
        applies = window.predictions if prof.name == PREDICTION else window.events
        extra = {"unseen_top": dict(sorted(window.unseen[j].items(), key=lambda kv: (-kv[1], kv[0])))}
        prev_counts = prev.cat_counts[j, : prof.n_bins] if prev is not None else None
        results.append(_column(cfg, prof, cur, int(window.cat_missing[j]), applies, prof.counts, extra, prev_counts, window.baseline))
    features = [r for r in results if r.feature not in (SCORE, PREDICTION)]
    drifted = tuple(r.feature for r in features if r.drift)
    share = len(drifted) / len(features) if features else 0.0
    prediction_drift = any(r.drift for r in results if r.feature in (SCORE, PREDICTION))
    dataset = DatasetResult(
        window.events,
        window.predictions,
        len(features),
        len(drifted),
        share,
        drifted,
        prediction_drift,
        "ok" if window.baseline else severity_of("drift_share", share, cfg.drift_share),
        window.baseline,
    )
    return results, dataset
