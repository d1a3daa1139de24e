"""Drift of a closed window: statistics, data quality and severity per column, and the
dataset-level share of drifted features. Pure: a function of merged sketches, the reference
profile and the model's config.

Severity, one rule: each judged value gets a :func:`verdict` against its thresholds (reaching
the critical one is critical, else reaching the warning one is a warning; "reaching" is ``>=``
for distances and ``<=`` for p-values, as alert rules compare). A column's severity is the worst
verdict among its drift statistics (when judged) and its data-quality checks; :func:`decide`
picks it and the column carries it as ``decided_by``.

Numeric columns: PSI and Jensen-Shannon over the coarse (reference-decile) bins, KS over the
fine bins (with its error bound), Wasserstein over bin representatives, normalised by the
reference standard deviation. Categorical columns: PSI and Jensen-Shannon over the vocabulary plus
"unseen", and the chi-square test of homogeneity.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from monitor.config import ModelConfig, Threshold
from monitor.layout import PREDICTION, SCORE
from monitor.reference import CategoricalProfile, NumericProfile
from monitor.sketches import Geometry, Sketch
from monitor.stats import STATISTICS
from monitor.stats.chi2 import chi2_pvalue, chi2_statistic
from monitor.stats.registry import SEVERITIES, higher_is_worse
from monitor.stats.rise import rise_pvalue
from monitor.stats.rows import (
    js_rows,
    ks_pvalue_rows,
    ks_statistic_rows,
    psi_rows,
    side,
    wasserstein_steps,
)
from monitor.stats.stacked import Stacked

__all__ = [
    "SEVERITIES",
    "ColumnResult",
    "DatasetResult",
    "decide",
    "evaluate",
    "evaluate_many",
    "higher_is_worse",
    "margin",
    "quality_verdicts",
    "severity_of",
    "verdict",
]


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
    decided_by: dict[str, Any] | None = None  # the verdict that set ``severity`` (see decide)


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
    if higher_is_worse(stat):
        return (
            "critical"
            if value >= threshold.critical
            else "warning"
            if value >= threshold.warning
            else "ok"
        )
    return (
        "critical"
        if value <= threshold.critical
        else "warning"
        if value <= threshold.warning
        else "ok"
    )


def verdict(stat: str, value: float | None, threshold: Threshold | None) -> dict[str, Any] | None:
    """How ``value`` of ``stat`` stands against ``threshold``: the severity and the threshold
    of the level it reached (the warning one when ok); None when not judged.

    >>> verdict("wasserstein", 0.44, Threshold(warning=0.2, critical=0.4))
    {'statistic': 'wasserstein', 'value': 0.44, 'threshold': 0.4, 'severity': 'critical'}
    """
    if threshold is None or value is None or math.isnan(value):
        return None
    severity = severity_of(stat, value, threshold)
    level = threshold.critical if severity == "critical" else threshold.warning
    return {"statistic": stat, "value": value, "threshold": level, "severity": severity}


def decide(verdicts: list[dict[str, Any] | None]) -> dict[str, Any] | None:
    """The verdict that decides a column: the worst severity; among equals the value furthest
    past its threshold (when ok: the nearest to its warning one), as a ratio; the first on ties.

    >>> t = Threshold(warning=0.1, critical=0.25)
    >>> decide([verdict("psi", 0.112, t), verdict("wasserstein", 0.44, Threshold(warning=0.2,
    ...     critical=0.4))])["statistic"]
    'wasserstein'
    >>> decide([verdict("psi", 0.02, t), verdict("js", 0.12, Threshold(warning=0.15,
    ...     critical=0.25))])["statistic"]
    'js'
    """
    return max(
        (v for v in verdicts if v is not None),
        key=lambda v: (SEVERITIES.index(v["severity"]), margin(v)),
        default=None,
    )


def margin(v: dict[str, Any]) -> float:
    """How far past its threshold a verdict's value is, as a ratio (above 1: past it; below 1,
    how close an ok value is to its warning threshold).

    >>> margin({"statistic": "psi", "value": 0.5, "threshold": 0.25, "severity": "critical"})
    2.0
    """
    value, threshold = v["value"], v["threshold"]
    num, den = (value, threshold) if higher_is_worse(v["statistic"]) else (threshold, value)
    return num / den if den > 0 else math.inf


def _worst(levels: list[str]) -> str:
    return max(levels, key=SEVERITIES.index, default="ok")


def _num(value: float) -> float | None:
    value = float(value)
    return None if math.isnan(value) else value


def _wanted(cfg: ModelConfig, kind: str) -> set[str]:
    return {s for s in cfg.statistics if kind in STATISTICS[s].kinds}


def _judged_by(cfg: ModelConfig, kind: str) -> list[tuple[str, Threshold | None]]:
    """The kind's statistics with their thresholds, in the config's order (ties in
    :func:`decide` go to the first, the same in every process)."""
    return [(s, cfg.threshold(s)) for s in cfg.statistics if kind in STATISTICS[s].kinds]


#: PSI as the windows share it (a kernel of :class:`Stacked` is one object for all calls)
_psi = functools.partial(psi_rows, eps=1e-4)


def _queue_rise(calls: Stacked, ref_hits: Any, ref_total: Any, hits: Any, totals: Any) -> int:
    """Queue :func:`rise_pvalue` per column (``_pvalues`` reads it)."""
    return calls.add(rise_pvalue, *np.broadcast_arrays(ref_hits, ref_total, hits, totals))


def _values(calls: Stacked, handle: int) -> list[float | None]:
    """A queued statistic per column, None where it is unknown (a p-value where the window
    has no trials, say)."""
    return [None if math.isnan(p) else p for p in calls[handle].tolist()]


def _queue_missing(
    calls: Stacked,
    geo: Geometry,
    profiles: tuple[NumericProfile, ...] | tuple[CategoricalProfile, ...],
    missing: list[int],
    applies: list[int],
) -> int:
    """Queue the p-value of each column's rise in the missing rate over its reference's."""
    sizes = [geo.reference_sizes[p.name] for p in profiles]
    ref_missing = [m for _, m in sizes]
    ref_rows = [n + m for n, m in sizes]
    return _queue_rise(calls, ref_missing, ref_rows, missing, applies)


def _numeric_block(
    calls: Stacked,
    geo: Geometry,
    counts: np.ndarray,
    against: np.ndarray | None,
    wanted: set[str],
    n_coarse: int,
) -> tuple[list[dict[str, float | None]], dict[str, int]]:
    """Every numeric column's statistics at once (rows = columns): ``counts`` against
    ``against`` (the previous window; None: the reference), both (columns, width). Those over
    few bins (PSI and Jensen-Shannon over the coarse ones, the KS p-values) are queued in
    ``calls``: the handles by statistic (``_put_queued`` puts them in)."""
    block = geo.numeric_reference
    coarse = geo.coarse(n_coarse)
    f = counts.shape[0]
    out: list[dict[str, float | None]] = [{} for _ in range(f)]
    queued: dict[str, int] = {}

    def put(name: str, values: np.ndarray) -> None:
        for j, v in enumerate(values.tolist()):
            out[j][name] = None if math.isnan(v) else v

    def later(name: str, handle: int) -> None:  # its place among the keys, until it is known
        for column in out:
            column[name] = None
        queued[name] = handle

    cur = counts.astype(np.float64)
    ref = block.ref if against is None else against
    if wanted & {"psi", "js"}:
        if coarse.starts is not None and coarse.ref is not None:  # both or neither
            ref_c = (
                coarse.ref
                if against is None
                else np.add.reduceat(against.ravel(), coarse.starts).reshape(f, -1)
            )
            cur_c = np.add.reduceat(cur.ravel(), coarse.starts).reshape(f, -1)
        else:  # columns with fewer bins than coarse bins: one at a time
            width = max(p.coarse(n_coarse).size for p in geo.numeric)
            ref_c, cur_c = np.zeros((f, width)), np.zeros((f, width))
            for j, p in enumerate(geo.numeric):
                g = p.coarse(n_coarse)
                ref_c[j, : g.size] = np.add.reduceat(ref[j, : p.n_bins], g)
                cur_c[j, : g.size] = np.add.reduceat(cur[j, : p.n_bins], g)
        if "psi" in wanted:
            later("psi", calls.add(_psi, ref_c, cur_c))
        if "js" in wanted:
            later("js", calls.add(js_rows, ref_c, cur_c))
    if wanted & {"ks", "ks_pvalue", "wasserstein"}:  # over a thousand fine bins: not stacked
        sides = block.side if against is None else side(against), side(cur)
        if wanted & {"ks", "ks_pvalue"}:
            statistic, bound, en = ks_statistic_rows(*sides, block.atoms)
            put("ks", statistic)
            later("ks_pvalue", calls.add(ks_pvalue_rows, statistic, en))
            put("ks_error_bound", bound)
        if "wasserstein" in wanted:
            put("wasserstein", wasserstein_steps(block.gaps, *sides, block.divisor))
    return out, queued


def _put_queued(
    calls: Stacked, queued: dict[str, int], stats: list[dict[str, float | None]]
) -> None:
    """Put the ``queued`` statistics (name -> handle) in ``stats``, one dict per column."""
    for name, handle in queued.items():
        for column, value in zip(stats, _values(calls, handle)):
            column[name] = value


def _categorical_stats(
    calls: Stacked, ref: np.ndarray, cur: np.ndarray, wanted: set[str]
) -> tuple[dict[str, float | None], dict[str, int]]:
    """Statistics of one categorical column, a row of its own width (columns have vocabularies
    of different sizes, and padding them to one width would change the order of the sums,
    hence their last bits; the same column of windows closing together shares one call): PSI,
    Jensen-Shannon and the chi-square p-value are queued (their handles by statistic)."""
    out: dict[str, float | None] = {}
    queued = {}
    rows = ref.astype(np.float64)[None], cur.astype(np.float64)[None]
    if "psi" in wanted:
        out["psi"], queued["psi"] = None, calls.add(_psi, *rows)
    if "js" in wanted:
        out["js"], queued["js"] = None, calls.add(js_rows, *rows)
    if wanted & {"chi2", "chi2_pvalue"}:
        statistic, dof = chi2_statistic(ref, cur) if ref.sum() and cur.sum() else (math.nan, 0)
        out["chi2"], out["chi2_pvalue"] = _num(statistic), None
        queued["chi2_pvalue"] = calls.add(chi2_pvalue, [statistic], [dof])
    return out, queued


def _column(
    cfg: ModelConfig,
    judged_by: list[tuple[str, Threshold | None]],
    geo: Geometry,
    window: Sketch,
    prof: NumericProfile | CategoricalProfile,
    compared: tuple[dict[str, float | None], dict[str, float | None] | None],
    counts: tuple[int, int, int],
    extra: dict[str, Any],
) -> ColumnResult:
    """One column's result. ``judged_by``: its statistics and their thresholds;
    ``compared``: its statistics against the reference and against the previous window (None:
    not compared); ``counts``: its values present, those missing and the events it applies
    to; ``extra``: its kind's quality entries (with the p-values of their rises over the
    reference)."""
    (stats, prev), (present, missing, applies) = compared, counts
    ref_missing_rate, baseline = geo.missing_rates[prof.name], window.baseline
    missing_rate = missing / applies if applies else None
    quality: dict[str, Any] = {
        "missing_rate": missing_rate,
        "missing_rate_change": None if missing_rate is None else missing_rate - ref_missing_rate,
        **extra,
    }
    judged_quality = quality_verdicts(cfg, quality)
    quality["severity"] = _worst([v["severity"] for v in judged_quality if v is not None])
    judged = present >= cfg.min_events  # too few values: sampling noise alone crosses thresholds
    if not judged:
        quality["too_few_values"] = True
    drift_verdicts = []
    if judged and not baseline:
        drift_verdicts = [verdict(s, stats.get(s), t) for s, t in judged_by]
        if prev is not None:
            drift_verdicts += [verdict(f"previous.{s}", prev.get(s), t) for s, t in judged_by]
    drift = any(v is not None and v["severity"] != "ok" for v in drift_verdicts)
    decided_by = decide([*drift_verdicts, *judged_quality])
    severity = "ok" if decided_by is None else decided_by["severity"]
    return ColumnResult(
        prof.name, prof.kind, applies, missing, stats, quality, drift, severity, prev, decided_by
    )


def quality_verdicts(cfg: ModelConfig, quality: dict[str, Any]) -> list[dict[str, Any] | None]:
    """Each rate against its absolute threshold, and its rise over the reference's rate against
    the test (``quality.significance`` and ``quality.min_rise``): significant is a warning.

    >>> from monitor.config import ModelConfig
    >>> cfg = ModelConfig.model_validate({"features": {"x": {"kind": "numeric"}}})
    >>> [(v["statistic"], v["severity"]) for v in quality_verdicts(cfg, {
    ...     "missing_rate_change": 0.049, "missing_rate_pvalue": 1e-90}) if v is not None]
    [('missing_rate_change', 'ok'), ('missing_rate_pvalue', 'warning')]
    """
    q = cfg.quality
    out = []
    for name, rise, threshold in (
        ("missing_rate", quality["missing_rate_change"], q.missing_rate),
        ("out_of_range", quality.get("out_of_range"), q.out_of_range),
        ("unseen_share", quality.get("unseen_share"), q.unseen_share),
    ):
        out.append(
            verdict("missing_rate_change" if name == "missing_rate" else name, rise, threshold)
        )
        pvalue = quality.get(f"{name}_pvalue")
        if pvalue is not None and rise is not None:
            flagged = pvalue <= q.significance and rise >= q.min_rise
            severity = "warning" if flagged else "ok"
            out.append(
                {
                    "statistic": f"{name}_pvalue",
                    "value": pvalue,
                    "threshold": q.significance,
                    "severity": severity,
                }
            )
    return out


def _numeric_columns(
    calls: Stacked, cfg: ModelConfig, geo: Geometry, window: Sketch, prev: Sketch | None
) -> Callable[[], list[ColumnResult]]:
    """The numeric columns' statistics, their p-values queued in ``calls``; returns what
    makes the columns once the queue ran."""
    wanted = _wanted(cfg, "numeric")
    judged_by = _judged_by(cfg, "numeric")
    n_coarse = cfg.reference.coarse_bins
    counts = window.num_counts
    f = counts.shape[0]
    stats, stats_p = _numeric_block(calls, geo, counts, None, wanted, n_coarse)
    prev_stats: list[dict[str, float | None] | None] = [None] * f
    prev_p: dict[str, int] = {}
    against: list[dict[str, float | None]] = []
    if prev is not None:
        against, prev_p = _numeric_block(
            calls, geo, counts, prev.num_counts.astype(np.float64), wanted, n_coarse
        )
        prev_stats = [
            s if n else None for s, n in zip(against, prev.num_counts.sum(axis=1).tolist())
        ]
    coarse = geo.coarse(n_coarse)
    sums = np.add.reduceat(counts.ravel(), coarse.histogram_starts).tolist()
    present = counts.sum(axis=1).tolist()
    lows, highs, missing = (
        window.num_min.tolist(),
        window.num_max.tolist(),
        window.num_missing.tolist(),
    )
    applies = [
        window.predictions if p.name in (SCORE, PREDICTION) else window.events for p in geo.numeric
    ]
    begins = [0, *coarse.histogram_ends[:-1]]
    histograms = [sums[b:e] for b, e in zip(begins, coarse.histogram_ends)]
    outside = [h[0] + h[-1] for h in histograms]  # the reference has no values out of range
    missing_of = _queue_missing(calls, geo, geo.numeric, missing, applies)
    outside_of = _queue_rise(calls, 0, present, outside, present)

    def columns() -> list[ColumnResult]:
        column = functools.partial(_column, cfg, judged_by, geo, window)
        _put_queued(calls, stats_p, stats)
        _put_queued(calls, prev_p, against)
        missing_p, outside_p = _values(calls, missing_of), _values(calls, outside_of)
        results = []
        for j, prof in enumerate(geo.numeric):
            n = present[j]
            extra = {
                "min": lows[j] if n else None,
                "max": highs[j] if n else None,
                "out_of_range": outside[j] / n if n else None,
                "missing_rate_pvalue": missing_p[j],
                "out_of_range_pvalue": outside_p[j],
                "histogram": {"edges": list(coarse.histogram_edges[j]), "counts": histograms[j]},
            }
            results.append(
                column(prof, (stats[j], prev_stats[j]), (n, missing[j], applies[j]), extra)
            )
        return results

    return columns


def _categorical_columns(
    calls: Stacked, cfg: ModelConfig, geo: Geometry, window: Sketch, prev: Sketch | None
) -> Callable[[], list[ColumnResult]]:
    """The categorical columns' statistics, their p-values queued in ``calls``; returns what
    makes the columns once the queue ran."""
    wanted = _wanted(cfg, "categorical")
    judged_by = _judged_by(cfg, "categorical")
    present = window.cat_counts.sum(axis=1).tolist()
    missing = window.cat_missing.tolist()
    applies = [
        window.predictions if p.name == PREDICTION else window.events for p in geo.categorical
    ]
    missing_of = _queue_missing(calls, geo, geo.categorical, missing, applies)
    unseen = [int(window.cat_counts[j, p.n_bins - 1]) for j, p in enumerate(geo.categorical)]
    ref_unseen = [int(p.counts[-1]) for p in geo.categorical]
    ref_rows = [geo.reference_sizes[p.name][0] for p in geo.categorical]
    unseen_of = _queue_rise(calls, ref_unseen, ref_rows, unseen, present)
    queued = []
    for j, prof in enumerate(geo.categorical):
        cur = window.cat_counts[j, : prof.n_bins]
        prev_counts = prev.cat_counts[j, : prof.n_bins] if prev is not None else None
        stats, stats_p = _categorical_stats(calls, prof.counts, cur, wanted)
        prev_stats, prev_p = (
            _categorical_stats(calls, prev_counts, cur, wanted)
            if prev_counts is not None and prev_counts.sum()
            else (None, {})
        )
        queued.append((cur, stats, stats_p, prev_stats, prev_p))

    def columns() -> list[ColumnResult]:
        column = functools.partial(_column, cfg, judged_by, geo, window)
        missing_p, unseen_p = _values(calls, missing_of), _values(calls, unseen_of)
        results = []
        for j, (prof, (cur, stats, stats_p, prev_stats, prev_p)) in enumerate(
            zip(geo.categorical, queued)
        ):
            _put_queued(calls, stats_p, [stats])
            if prev_stats is not None:
                _put_queued(calls, prev_p, [prev_stats])
            n = present[j]
            extra: dict[str, Any] = {
                "unseen_top": dict(
                    sorted(window.unseen[j].items(), key=lambda kv: (-kv[1], kv[0]))
                ),
                "unseen_share": unseen[j] / n if n else None,
                "missing_rate_pvalue": missing_p[j],
                "unseen_share_pvalue": unseen_p[j],
            }
            if len(prof.vocab) <= 100:
                extra["histogram"] = {"counts": cur.tolist()}
            results.append(column(prof, (stats, prev_stats), (n, missing[j], applies[j]), extra))
        return results

    return columns


#: A window to evaluate: its model's config, its bins, its merged sketch and the model's
#: previous window (compared when the config says so).
Judged = tuple[ModelConfig, Geometry, Sketch, "Sketch | None"]


def evaluate(
    cfg: ModelConfig, geo: Geometry, window: Sketch, previous: Sketch | None = None
) -> tuple[list[ColumnResult], DatasetResult]:
    """Evaluate a merged window sketch against the reference (and the previous window when
    ``compare_previous`` is set)."""
    return evaluate_many([(cfg, geo, window, previous)])[0]


def evaluate_many(
    windows: Sequence[Judged],
) -> list[tuple[list[ColumnResult], DatasetResult]]:
    """:func:`evaluate` of many windows (of any models) at once: every window's kernel calls
    are queued, then run together, one call per kernel and bin width over the columns of all
    of them (:class:`~monitor.stats.stacked.Stacked`: their cost is mostly per call). Each
    window gets the values it would alone."""
    calls = Stacked()
    queued = []
    for cfg, geo, window, previous in windows:
        prev = previous if cfg.compare_previous else None
        numeric = _numeric_columns(calls, cfg, geo, window, prev) if geo.numeric else list
        queued.append((cfg, window, numeric, _categorical_columns(calls, cfg, geo, window, prev)))
    calls.run()
    return [
        _dataset(cfg, window, numeric() + categorical())
        for cfg, window, numeric, categorical in queued
    ]


def _dataset(
    cfg: ModelConfig, window: Sketch, results: list[ColumnResult]
) -> tuple[list[ColumnResult], DatasetResult]:
    """The window's columns with its dataset-level result."""
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
