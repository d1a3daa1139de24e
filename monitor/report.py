"""``monitor report``: one self-contained HTML page about one model, readable without Grafana.

The page holds inline SVG and CSS only (no script, no network): it can be mailed, attached to a
ticket or opened from disk. What it shows, from the store:

1. a summary (windows, drifted windows, features that drifted, latest severity);
2. drift per feature over time: a heatmap of one statistic (PSI by default) per feature and
   window, coloured against the statistic's warning and critical thresholds;
3. the dataset drift share and the events per window;
4. for each drifted feature, reference vs current: the reference distribution (from the reference
   profile's bins) next to what the store keeps of the window. Windows persist statistics, not
   histograms: without a per-window histogram (``quality["histogram"]``, see below) the window
   is shown by its range, missing and out-of-range shares and its distances to the reference;
5. performance realized vs estimated, and the alert timeline, when the store has them.

Besides the windows it reads ``store.performance(model_id)`` (rows ``{model_version,
window_start, window_end, metric, realized, estimated}``) and the alert timeline,
:func:`monitor.alerts.queries.alert_spans` (rows ``{rule, severity, model_version, feature,
started_ms, resolved_ms}``, ``resolved_ms`` None while firing). A window row whose
``quality["histogram"]`` holds ``{"edges": [...], "counts": [...]}`` (numeric: counts below,
between and above the reference's coarse edges) or ``{"counts": [...]}`` (categorical: counts per
reference category, then unseen) gets a true reference-vs-current bar chart.

>>> from monitor.config import parse_config
>>> from monitor.store import Store
>>> cfg = parse_config({"models": {"m": {"features": {"x": {"kind": "numeric"}}}}})
>>> store = Store("sqlite://"); store.upgrade()
>>> page = render(collect(cfg, store, "m"))
>>> page.startswith("<!DOCTYPE html>") and "No closed windows" in page
True
"""

from __future__ import annotations

import datetime as dt
import html
import itertools
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from monitor.config import Config, ModelConfig, Threshold
from monitor.layout import PREDICTION, SCORE
from monitor.reference import CategoricalProfile, NumericProfile, ReferenceProfile
from monitor.store import Store

__all__ = ["ReportData", "collect", "render", "write_report"]

#: Statistics a heatmap can colour by (higher is worse), in order of preference.
HEAT_STATISTICS = ("psi", "js", "wasserstein", "ks", "chi2")
DRIFTED_SHOWN = 8

_SEVERITY_COLOR = {"ok": "#2e7d32", "warning": "#ef6c00", "critical": "#c62828"}
_REF_COLOR, _CUR_COLOR = "#5c7cfa", "#f08c00"


@dataclass
class VersionData:
    """What the report shows of one model version."""

    version: str
    windows: list[tuple[int, int]]  # (start, end), oldest first
    cells: dict[tuple[str, int], dict[str, Any]]  # (feature, window start) -> window row
    summaries: list[dict[str, Any]]
    features: list[str]
    reference: ReferenceProfile | None
    late: dict[int, int] = field(default_factory=dict)  # window start -> late events
    segments: dict[str, list[dict[str, Any]]] = field(
        default_factory=dict
    )  # segment -> summaries, oldest first


@dataclass
class ReportData:
    model_id: str
    model: ModelConfig
    statistic: str
    threshold: Threshold | None
    versions: list[VersionData]
    performance: list[dict[str, Any]]
    alerts: list[dict[str, Any]]
    generated_ms: int


def collect(
    config: Config,
    store: Store,
    model_id: str,
    *,
    version: str | None = None,
    since_ms: int | None = None,
    max_windows: int = 200,
    statistic: str | None = None,
) -> ReportData:
    """Read what the report shows from ``store`` (the last ``max_windows`` windows per version)."""
    model = config.model(model_id)
    stat = statistic or next((s for s in HEAT_STATISTICS if s in model.statistics), "psi")
    rows = store.windows(model_id, since_ms=since_ms, version=version)
    summaries = [
        s
        for s in store.summaries(model_id, since_ms, segment=None)
        if version is None or s["model_version"] == version
    ]
    late = store.late_counts(model_id)
    order = [*model.features, SCORE, PREDICTION]
    versions = []
    for v in sorted({r["model_version"] for r in rows}):
        vrows = [r for r in rows if r["model_version"] == v]
        windows = sorted({(r["window_start"], r["window_end"]) for r in vrows})[-max_windows:]
        first = windows[0][0]
        vrows = [r for r in vrows if r["window_start"] >= first]
        present = {r["feature"] for r in vrows}
        latest = max(vrows, key=lambda r: r["window_start"])
        versions.append(
            VersionData(
                v,
                windows,
                {(r["feature"], r["window_start"]): r for r in vrows},
                [
                    s
                    for s in summaries
                    if s["model_version"] == v and s["window_start"] >= first and not s["segment"]
                ],
                [f for f in order if f in present] + sorted(present - set(order)),
                store.get_reference(model_id, v, latest["reference_version"]),
                {
                    s: sum(late.get((v, p), 0) for p in range(s, e, model.slide_ms))
                    for s, e in windows
                },
                _by_segment(
                    [
                        s
                        for s in summaries
                        if s["model_version"] == v and s["window_start"] >= first and s["segment"]
                    ]
                ),
            )
        )
    versions.sort(key=lambda d: d.windows[-1][1], reverse=True)
    return ReportData(
        model_id,
        model,
        stat,
        model.threshold(stat),
        versions,
        store.performance(model_id),
        _alert_spans(store, model_id),
        int(time.time() * 1000),
    )


def _by_segment(summaries: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for s in sorted(summaries, key=lambda s: s["window_start"]):
        out.setdefault(s["segment"], []).append(s)
    return out


def _alert_spans(store: Store, model_id: str) -> list[dict[str, Any]]:
    from monitor.alerts.queries import alert_spans

    with store.tx() as conn:
        return alert_spans(conn, model_id)


def write_report(
    config: Config, store: Store, model_id: str, out: Path, **options: Any
) -> ReportData:
    data = collect(config, store, model_id, **options)
    out.write_text(render(data), encoding="utf-8")
    return data


# -- formatting ---------------------------------------------------------------------------------
def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _num(value: float | None, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if value == 0:
        return "0"
    if abs(value) >= 1e5 or abs(value) < 1e-3:
        return f"{value:.{digits}g}"
    return (
        f"{value:.{digits}g}"
        if abs(value) < 1
        else f"{value:,.{max(digits - 1, 1)}f}".rstrip("0").rstrip(".")
    )


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def _when(ms: int, span_ms: int = 0) -> str:
    t = dt.datetime.fromtimestamp(ms / 1000, dt.UTC)
    if span_ms and span_ms < 2 * 86_400_000:
        return t.strftime("%m-%d %H:%M:%S" if span_ms < 600_000 else "%m-%d %H:%M")
    return t.strftime("%Y-%m-%d %H:%M")


def _duration(ms: int) -> str:
    """A duration the way the config spells it.

    >>> _duration(600_000), _duration(5_400_000), _duration(1500)
    ('10m', '90m', '1.5s')
    """
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms >= size and ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms / 1000:g}s"


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """Round tick values covering [lo, hi].

    >>> _ticks(0, 0.27)
    [0.0, 0.1, 0.2, 0.3]
    """
    if hi <= lo:
        hi = lo + 1
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw * 0.999)
    start = math.floor(lo / step + 1e-9) * step
    out = []
    k = 0
    while start + k * step <= hi + step * 0.999:
        out.append(round(start + k * step, 12))
        k += 1
    return out


def _mix(a: str, b: str, t: float) -> str:
    t = min(max(t, 0.0), 1.0)
    ca = [int(a[i : i + 2], 16) for i in (1, 3, 5)]
    cb = [int(b[i : i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(x + (y - x) * t):02x}" for x, y in zip(ca, cb))


def heat_color(value: float | None, threshold: Threshold | None) -> str:
    """Colour of a statistic against its thresholds: green below warning, amber to orange up to
    critical, red beyond (darkest at twice critical).

    >>> heat_color(0.0, Threshold(warning=0.1, critical=0.25)), heat_color(None, None)
    ('#e8f5e9', '#e0e0e0')
    """
    if value is None:
        return "#e0e0e0"
    w, c = (threshold.warning, threshold.critical) if threshold else (0.1, 0.25)
    if value < w:
        return _mix("#e8f5e9", "#c5e1a5", value / w if w else 1)
    if value < c:
        return _mix("#ffe082", "#fb8c00", (value - w) / (c - w) if c > w else 1)
    return _mix("#e53935", "#7f0000", (value - c) / c if c else 1)


# -- SVG charts ---------------------------------------------------------------------------------
@dataclass
class Series:
    name: str
    color: str
    points: Sequence[tuple[float, float | None]]
    dashed: bool = False


def _time_ticks(x0: float, x1: float, n: int = 6) -> list[float]:
    if x1 <= x0:
        return [x0]
    return [x0 + (x1 - x0) * i / (n - 1) for i in range(n)]


def line_chart(
    series: Sequence[Series],
    *,
    width: int = 620,
    height: int = 210,
    y_max: float | None = None,
    lines: Iterable[tuple[float, str, str]] = (),
    percent: bool = False,
    x_domain: tuple[float, float] | None = None,
    y_min: float | None = None,
) -> str:
    """A time-series chart; ``lines`` are horizontal (value, label, colour) references. The y
    axis starts at 0 unless ``y_min`` is given."""
    lines = list(lines)
    values = [y for s in series for _, y in s.points if y is not None]
    if not values:
        return '<p class="empty">no data</p>'
    xs = [x for s in series for x, y in s.points if y is not None]
    x0, x1 = x_domain or (min(xs), max(xs))
    if x1 <= x0:
        x0, x1 = x0 - 1, x1 + 1
    top_value = max([*values, *(v for v, _, _ in lines)])
    y1 = y_max if y_max is not None else (top_value * 1.1 if top_value > 0 else 1.0)
    y0 = min(0.0 if y_min is None else y_min, min(values))
    ticks = _ticks(y0, y1, 4)
    y0, y1 = ticks[0], max(ticks[-1], y1)
    L, R, T, B = 56, 14, 10, 30
    pw, ph = width - L - R, height - T - B

    def sx(x: float) -> float:
        return L + (x - x0) / (x1 - x0) * pw

    def sy(y: float) -> float:
        return T + ph - (y - y0) / (y1 - y0) * ph

    out = [
        (
            f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" '
            f'height="{height}" role="img">'
        )
    ]
    for t in ticks:
        label = _pct(t) if percent else _num(t)
        out.append(f'<line x1="{L}" x2="{L + pw}" y1="{sy(t):.1f}" y2="{sy(t):.1f}" class="grid"/>')
        out.append(
            f'<text x="{L - 6}" y="{sy(t) + 4:.1f}" class="tick" text-anchor="end">{label}</text>'
        )
    span = int(x1 - x0)
    count = max(2, min(5, pw // 100))  # about 100 px per time label
    for i, t in enumerate(_time_ticks(x0, x1, count)):
        anchor = "start" if i == 0 else "end" if i == count - 1 else "middle"
        out.append(
            f'<text x="{sx(t):.1f}" y="{height - 10}" class="tick" '
            f'text-anchor="{anchor}">{_when(int(t), span)}</text>'
        )
    out.append(
        f'<line x1="{L}" x2="{L}" y1="{T}" y2="{T + ph}" class="axis"/><line x1="{L}" '
        f'x2="{L + pw}" y1="{T + ph}" y2="{T + ph}" class="axis"/>'
    )
    labelled: list[float] = []
    for value, label, color in sorted(lines, reverse=True):
        if y0 <= value <= y1:
            at = sy(value)
            out.append(
                f'<line x1="{L}" x2="{L + pw}" y1="{at:.1f}" y2="{at:.1f}" '
                f'stroke="{color}" stroke-dasharray="5 4" '
                f'stroke-width="1.2"><title>{_e(label)} {_num(value)}</title></line>'
            )
            if all(
                abs(at - other) >= 12 for other in labelled
            ):  # labels of close lines would overlap
                out.append(
                    f'<text x="{L + 4}" y="{at - 4:.1f}" class="tick" '
                    f'fill="{color}">{_e(label)}</text>'
                )
                labelled.append(at)
    for s in series:
        runs: list[list[tuple[float, float]]] = [[]]
        for x, y in s.points:
            if y is None:
                runs.append([])
            else:
                runs[-1].append((x, y))
        dash = ' stroke-dasharray="6 4"' if s.dashed else ""
        for run in runs:
            if len(run) > 1:
                d = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in run)
                out.append(
                    f'<polyline points="{d}" fill="none" stroke="{s.color}" '
                    f'stroke-width="2"{dash}/>'
                )
        if len([p for p in s.points if p[1] is not None]) <= 60:
            for x, y in s.points:
                if y is not None:
                    out.append(
                        f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="2.6" '
                        f'fill="{s.color}"><title>{_e(s.name)} {_when(int(x))}: '
                        f"{_pct(y) if percent else _num(y, 4)}</title></circle>"
                    )
    out.append("</svg>")
    legend = "".join(
        (
            '<span class="key"><i '
            f'style="background:{s.color}"></i>{_e(s.name)}{" (dashed)" if s.dashed else ""}</span>'
        )
        for s in series
        if len(series) > 1
    )
    return "".join(out) + (f'<div class="legend">{legend}</div>' if legend else "")


def bar_chart(
    labels: Sequence[str],
    groups: Sequence[tuple[str, str, Sequence[float]]],
    *,
    width: int = 620,
    height: int = 220,
    percent: bool = True,
    note_x: str = "",
) -> str:
    """Grouped vertical bars: ``groups`` are (name, colour, values per label)."""
    n = len(labels)
    if not n:
        return '<p class="empty">no data</p>'
    top = max((v for _, _, vals in groups for v in vals), default=0) or 1
    ticks = _ticks(0, top * 1.05, 4)
    L, R, T, B = 48, 10, 10, 58
    pw, ph = width - L - R, height - T - B
    slot = pw / n
    bw = slot * 0.8 / max(len(groups), 1)

    def sy(y: float) -> float:
        return T + ph - y / ticks[-1] * ph

    out = [
        (
            f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" '
            f'height="{height}" role="img">'
        )
    ]
    for t in ticks:
        out.append(f'<line x1="{L}" x2="{L + pw}" y1="{sy(t):.1f}" y2="{sy(t):.1f}" class="grid"/>')
        out.append(
            f'<text x="{L - 6}" y="{sy(t) + 4:.1f}" class="tick" '
            f'text-anchor="end">{_pct(t) if percent else _num(t)}</text>'
        )
    step = max(1, math.ceil(n / 24))
    for i, label in enumerate(labels):
        for g, (name, color, vals) in enumerate(groups):
            v = vals[i]
            x = L + i * slot + slot * 0.1 + g * bw
            out.append(
                f'<rect x="{x:.1f}" y="{sy(v):.1f}" width="{max(bw - 1, 1):.1f}" '
                f'height="{max(T + ph - sy(v), 0):.1f}" fill="{color}"><title>{_e(name)} '
                f"{_e(label)}: {_pct(v) if percent else _num(v)}</title></rect>"
            )
        if i % step == 0 or i == n - 1:
            cx = L + i * slot + slot / 2
            out.append(
                '<text class="tick" text-anchor="end" '
                f'transform="translate({cx:.1f},{T + ph + 10}) '
                f'rotate(-35)">{_e(label[:18])}</text>'
            )
    out.append(f'<line x1="{L}" x2="{L + pw}" y1="{T + ph}" y2="{T + ph}" class="axis"/>')
    if note_x:
        out.append(
            f'<text x="{L + pw}" y="{height - 2}" class="tick" '
            f'text-anchor="end">{_e(note_x)}</text>'
        )
    out.append("</svg>")
    legend = "".join(
        f'<span class="key"><i style="background:{c}"></i>{_e(name)}</span>'
        for name, c, _ in groups
    )
    return "".join(out) + f'<div class="legend">{legend}</div>'


def heatmap(
    data: VersionData, statistic: str, threshold: Threshold | None, width: int = 1240
) -> str:
    """Features (rows) x windows (columns), coloured by ``statistic``; a dot marks drift."""
    n = len(data.windows)
    label_w = max(70, 8 * max(len(f) for f in data.features) + 16)
    L, T, B, R = label_w, 6, 34, 84  # room on the right for the last time label
    cw = min(90.0, (width - L - R) / n)
    ch = 20
    h = T + ch * len(data.features) + B
    w = int(L + cw * n + R)
    span = data.windows[-1][1] - data.windows[0][0]
    out = [f'<svg class="chart heat" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img">']
    for i, f in enumerate(data.features):
        y = T + i * ch
        out.append(
            f'<text x="{L - 8}" y="{y + ch / 2 + 4:.1f}" class="label" '
            f'text-anchor="end">{_e(f)}</text>'
        )
        for j, (start, end) in enumerate(data.windows):
            row = data.cells.get((f, start))
            x = L + j * cw
            if row is None:
                out.append(
                    f'<rect x="{x:.1f}" y="{y}" width="{cw:.1f}" height="{ch}" fill="#fafafa"/>'
                )
                continue
            value = (row["statistics"] or {}).get(statistic)
            fill = "url(#base)" if row["baseline"] else heat_color(value, threshold)
            tip = (
                f"{f} {_when(start)}–{_when(end)[11:]}: {statistic}={_num(value, 4)}, "
                f"severity {row['severity']}, {row['count']} events"
            ) + (" (baseline)" if row["baseline"] else "")
            out.append(
                f'<rect x="{x:.1f}" y="{y}" width="{cw:.1f}" height="{ch}" fill="{fill}" '
                'stroke="#fff" '
                f'stroke-width="{1 if cw > 4 else 0}"><title>{_e(tip)}</title></rect>'
            )
            if row["drift"] and cw >= 5:
                out.append(
                    f'<circle cx="{x + cw / 2:.1f}" cy="{y + ch / 2}" '
                    f'r="{min(3.2, cw / 4):.1f}" fill="#212121"/>'
                )
    every = max(1, math.ceil(100 / cw))  # a time label (window start) every ~100 px
    for j in range(0, n, every):
        x = L + j * cw
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{h - B}" y2="{h - B + 6}" class="axis"/>')
        out.append(
            f'<text x="{x + 2:.1f}" y="{h - 14}" '
            f'class="tick">{_when(data.windows[j][0], span)}</text>'
        )
    out.insert(
        1,
        (
            '<defs><pattern id="base" width="6" height="6" patternUnits="userSpaceOnUse" '
            'patternTransform="rotate(45)"><rect width="6" height="6" fill="#eeeeee"/><line '
            'x1="0" y1="0" x2="0" y2="6" stroke="#bdbdbd" stroke-width="2"/></pattern></defs>'
        ),
    )
    out.append("</svg>")
    return "".join(out)


def heat_legend(statistic: str, threshold: Threshold | None) -> str:
    w, c = (threshold.warning, threshold.critical) if threshold else (0.1, 0.25)
    stops = [0, w / 2, w, (w + c) / 2, c, 1.5 * c, 2 * c]
    cells = "".join(
        f'<span class="swatch" style="background:{heat_color(v, threshold)}"></span>' for v in stops
    )
    return (
        f'<div class="legend">{_e(statistic)}: {cells} <span>0 → warning {_num(w)} → '
        f"critical {_num(c)} → {_num(2 * c)}+</span>"
        '<span class="key"><i class="dot"></i>drift flagged (any statistic or data quality)</span>'
        '<span class="key"><i class="hatch"></i>baseline window</span>'
        '<span class="key"><i style="background:#e0e0e0"></i>not computed</span></div>'
    )


# -- reference vs current -----------------------------------------------------------------------
def _numeric_reference(profile: NumericProfile, bins: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """The reference as ``bins`` equal-width shares over its central 99% (the inner edges are
    reference quantiles, so long tails do not squash the picture); the tails fold into the
    outermost bins."""
    edges = profile.edges
    counts = profile.counts[profile.in_range].astype(float)
    cum = np.concatenate([[0.0], np.cumsum(counts)]) / max(counts.sum(), 1)
    lo = float(np.interp(0.005, cum, edges))
    hi = float(np.interp(0.995, cum, edges))
    if not hi > lo:
        lo, hi = float(edges[0]), float(edges[-1])
    display = np.linspace(lo, hi, bins + 1) if hi > lo else np.array([lo - 0.5, lo + 0.5])
    mids = (edges[:-1] + edges[1:]) / 2
    idx = np.clip(np.searchsorted(display, mids, side="right") - 1, 0, len(display) - 2)
    shares = np.bincount(idx, weights=counts, minlength=len(display) - 1)
    return display, shares / max(shares.sum(), 1)


def _range_chart(
    profile: NumericProfile, row: dict[str, Any], width: int = 620, height: int = 220
) -> str:
    """Reference histogram with the window's [min, max] drawn over it (what the store keeps)."""
    display, shares = _numeric_reference(profile)
    q = row["quality"] or {}
    cmin, cmax = q.get("min"), q.get("max")
    lo, hi = float(display[0]), float(display[-1])
    pad = 0.5 * (hi - lo) or 1.0
    x0 = min(lo, cmin if cmin is not None else lo)
    x1 = max(hi, cmax if cmax is not None else hi)
    clipped_lo, clipped_hi = (
        x0 < lo - pad,
        x1 > hi + pad,
    )  # far outliers: do not squash the histogram
    x0, x1 = max(x0, lo - pad) - 0.02 * pad, min(x1, hi + pad) + 0.02 * pad
    L, R, T, B = 48, 10, 22, 30
    pw, ph = width - L - R, height - T - B
    ticks = _ticks(0, float(shares.max()) * 1.1 or 1, 4)

    def sx(x: float) -> float:
        return L + (x - x0) / (x1 - x0) * pw

    def sy(y: float) -> float:
        return T + ph - y / ticks[-1] * ph

    out = [
        (
            f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" '
            f'height="{height}" role="img">'
        )
    ]
    for t in ticks:
        out.append(
            f'<line x1="{L}" x2="{L + pw}" y1="{sy(t):.1f}" y2="{sy(t):.1f}" '
            f'class="grid"/><text x="{L - 6}" y="{sy(t) + 4:.1f}" class="tick" '
            f'text-anchor="end">{_pct(t)}</text>'
        )
    if cmin is not None and cmax is not None:
        a, b = sx(max(cmin, x0)), sx(min(cmax, x1))
        out.append(
            f'<rect x="{a:.1f}" y="{T}" width="{max(b - a, 2):.1f}" height="{ph}" '
            f'fill="{_CUR_COLOR}" opacity="0.16"/>'
        )
        for x in (a, b):
            out.append(
                f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{T}" y2="{T + ph}" '
                f'stroke="{_CUR_COLOR}" stroke-width="2"/>'
            )
        out.append(
            f'<text x="{a + 3:.1f}" y="{T - 8}" class="tick" '
            f'fill="{_CUR_COLOR}">{"← " if clipped_lo else ""}window min '
            f"{_num(cmin)}</text>"
        )
        out.append(
            f'<text x="{b - 3:.1f}" y="{T - 8}" class="tick" fill="{_CUR_COLOR}" '
            f'text-anchor="end">window max {_num(cmax)}{" →" if clipped_hi else ""}</text>'
        )
    for i, share in enumerate(shares):
        a, b = sx(display[i]), sx(display[i + 1])
        out.append(
            f'<rect x="{a:.1f}" y="{sy(share):.1f}" width="{max(b - a - 0.5, 0.5):.1f}" '
            f'height="{T + ph - sy(share):.1f}" fill="{_REF_COLOR}" '
            f'opacity="0.85"><title>reference [{_num(display[i])}, '
            f"{_num(display[i + 1])}): {_pct(share)}</title></rect>"
        )
    for t in _ticks(x0, x1, 6):
        if x0 <= t <= x1:
            out.append(
                f'<text x="{sx(t):.1f}" y="{height - 10}" class="tick" '
                f'text-anchor="middle">{_num(t)}</text>'
            )
    out.append(f'<line x1="{L}" x2="{L + pw}" y1="{T + ph}" y2="{T + ph}" class="axis"/></svg>')
    out.append(
        '<div class="legend"><span class="key"><i '
        f'style="background:{_REF_COLOR}"></i>reference distribution</span><span '
        f'class="key"><i style="background:{_CUR_COLOR};opacity:.5"></i>window range [min, '
        "max]</span></div>"
    )
    return "".join(out)


def _histogram_chart(
    profile: NumericProfile | CategoricalProfile, hist: dict[str, Any]
) -> str | None:
    """Reference vs window over the same bins, when the window row carries its histogram."""
    counts = np.asarray(hist.get("counts") or [], float)
    if counts.sum() <= 0:
        return None
    if isinstance(profile, NumericProfile):
        edges = np.asarray(hist.get("edges") or [], float)
        if counts.size != edges.size + 1 or edges.size < 2:
            return None
        mids = (profile.edges[:-1] + profile.edges[1:]) / 2
        idx = np.searchsorted(edges, mids, side="right")  # 0: below the first edge
        ref = np.bincount(
            idx, weights=profile.counts[profile.in_range].astype(float), minlength=counts.size
        )[: counts.size]
        labels = (
            [f"< {_num(edges[0])}"]
            + [f"{_num(a)}…{_num(b)}" for a, b in itertools.pairwise(edges)]
            + [f"≥ {_num(edges[-1])}"]
        )
    else:
        if counts.size != len(profile.vocab) + 1:
            return None
        ref = profile.counts[: counts.size].astype(float)
        labels = [*profile.vocab, "(unseen)"]
        keep = np.argsort(-(ref / max(ref.sum(), 1) + counts / counts.sum()))[:16]
        keep = np.sort(keep)
        labels, ref, counts = [labels[i] for i in keep], ref[keep], counts[keep]
    return bar_chart(
        labels,
        [
            ("reference", _REF_COLOR, ref / max(ref.sum(), 1)),
            ("window", _CUR_COLOR, counts / counts.sum()),
        ],
    )


def _categorical_chart(profile: CategoricalProfile, row: dict[str, Any]) -> str:
    shares = profile.counts[:-1] / max(profile.counts[:-1].sum(), 1)
    top = min(len(profile.vocab), 15)
    labels = (
        list(profile.vocab[:top]) + (["(other)"] if len(profile.vocab) > top else []) + ["(unseen)"]
    )
    ref = (
        list(shares[:top])
        + ([float(shares[top:].sum())] if len(profile.vocab) > top else [])
        + [0.0]
    )
    unseen = (row["quality"] or {}).get("unseen_share") or 0.0
    cur = [0.0] * (len(labels) - 1) + [unseen]
    return bar_chart(
        labels,
        [("reference share", _REF_COLOR, ref), ("window: share of unseen values", _CUR_COLOR, cur)],
    )


def _stats_table(profile: NumericProfile | CategoricalProfile | None, row: dict[str, Any]) -> str:
    q, s = row["quality"] or {}, row["statistics"] or {}
    rows: list[tuple[str, str, str]] = []
    if isinstance(profile, NumericProfile):
        rows.append(
            (
                "range",
                f"[{_num(float(profile.edges[0]))}, {_num(float(profile.edges[-1]))}]",
                f"[{_num(q.get('min'))}, {_num(q.get('max'))}]",
            )
        )
        rows.append(("outside the reference range", "0%", _pct(q.get("out_of_range"))))
    elif isinstance(profile, CategoricalProfile):
        rows.append(("categories", str(len(profile.vocab)), ""))
        rows.append(("unseen values", "0%", _pct(q.get("unseen_share"))))
        top = q.get("unseen_top") or {}
        if top:
            rows.append(
                (
                    "most frequent unseen",
                    "",
                    ", ".join(f"{_e(k)} ({v})" for k, v in list(top.items())[:4]),
                )
            )
    if profile is not None:
        ref_missing = profile.missing / max(int(profile.counts.sum()) + profile.missing, 1)
        rows.append(("missing values", _pct(ref_missing), _pct(q.get("missing_rate"))))
    rows.append(("events in the window", "", f"{row['count']:,}"))
    for name in ("psi", "ks", "ks_pvalue", "js", "wasserstein", "chi2", "chi2_pvalue"):
        if s.get(name) is not None:
            rows.append((name, "", _num(s[name], 4)))
    body = "".join(f"<tr><th>{_e(a)}</th><td>{b}</td><td>{c}</td></tr>" for a, b, c in rows)
    sev = row["severity"]
    return (
        '<table class="stats"><thead><tr><th></th><th>reference</th><th>window</th></tr></thead>'
        f"<tbody>{body}<tr><th>severity</th><td></td><td><b "
        f'style="color:{_SEVERITY_COLOR.get(sev, "#000")}">{_e(sev)}</b></td></tr></tbody></table>'
    )


def _stat(row: dict[str, Any] | None, statistic: str) -> float | None:
    return None if row is None else (row["statistics"] or {}).get(statistic)


def _feature_card(data: ReportData, v: VersionData, feature: str) -> str:
    drifted = [(s, e) for s, e in v.windows if (r := v.cells.get((feature, s))) and r["drift"]]
    start, end = drifted[-1]
    row = v.cells[(feature, start)]
    profile = v.reference.columns.get(feature) if v.reference else None
    hist = (row["quality"] or {}).get("histogram")
    chart = (
        _histogram_chart(profile, hist) if profile is not None and isinstance(hist, dict) else None
    )
    if chart is not None:
        caption = "Reference and window shares over the same bins."
    elif isinstance(profile, NumericProfile):
        chart = _range_chart(profile, row)
        caption = (
            "Reference: its central 99%. The store keeps statistics per window, not its "
            "histogram: the window is drawn by its range [min, max]; its shares and distances "
            "to the reference are in the table."
        )
    elif isinstance(profile, CategoricalProfile):
        chart = _categorical_chart(profile, row)
        caption = (
            "Reference shares per category; for the window the store keeps the share of unseen "
            "values (and the most frequent ones)."
        )
    else:
        chart, caption = '<p class="empty">no reference profile for this column</p>', ""
    points = [(e, _stat(v.cells.get((feature, s)), data.statistic)) for s, e in v.windows]
    lines = (
        [
            (data.threshold.warning, "warning", _SEVERITY_COLOR["warning"]),
            (data.threshold.critical, "critical", _SEVERITY_COLOR["critical"]),
        ]
        if data.threshold
        else []
    )
    trend = line_chart(
        [Series(data.statistic, "#37474f", points)], width=420, height=170, lines=lines
    )
    return (
        f'<div class="card feature"><h3>{_e(feature)} <span class="badge '
        f'{_e(row["severity"])}">{_e(row["severity"])}</span>'
        f'<span class="sub">window {_when(start)} – {_when(end)} UTC · drifted in '
        f"{len(drifted)} of {len(v.windows)} windows</span></h3>"
        f'<div class="cols"><div>{chart}<p class="caption">{_e(caption)}</p></div>'
        f"<div>{_stats_table(profile, row)}<h4>{_e(data.statistic)} over "
        f"time</h4>{trend}</div></div></div>"
    )


# -- sections -----------------------------------------------------------------------------------
def _summary(data: ReportData) -> str:
    cards = []
    for v in data.versions:
        n = len(v.windows)
        drifted_windows = sum(1 for s in v.summaries if s["drifted"] or s["prediction_drift"])
        features = sorted({f for (f, _), r in v.cells.items() if r["drift"]}, key=v.features.index)
        latest = v.summaries[-1] if v.summaries else None
        sev = latest["severity"] if latest else "ok"
        events = sum(s["events"] for s in v.summaries)
        late = sum(v.late.values())
        ref = (
            (
                f"reference v{v.reference.version} ({v.reference.rows:,} "
                f"rows{', ' + _e(v.reference.source) if v.reference.source else ''})"
            )
            if v.reference
            else "no reference"
        )
        cards.append(
            '<div class="kpis"><div '
            f'class="kpi"><span>version</span><b>{_e(v.version)}</b><small>{ref}</small></div>'
            "<div "
            f'class="kpi"><span>windows</span><b>{n}</b><small>{_when(v.windows[0][0])} – '
            f"{_when(v.windows[-1][1])} UTC</small></div>"
            '<div class="kpi"><span>windows with '
            f"drift</span><b>{drifted_windows}</b><small>{_pct(drifted_windows / n if n else 0)} "
            "of the windows</small></div>"
            '<div class="kpi"><span>features that '
            f"drifted</span><b>{len(features)}</b><small>"
            f"{_e(', '.join(features[:8]) + (' …' if len(features) > 8 else '')) or 'none'}"
            "</small></div>"
            '<div class="kpi"><span>latest window</span><b '
            f'class="{_e(sev)}">{_e(sev)}</b>'
            f"<small>{_pct(latest['drifted_share']) if latest else '–'} "
            "of features drifted</small></div>"
            f'<div class="kpi"><span>events</span><b>{events:,}</b><small>{late:,} '
            "late</small></div></div>"
        )
    return "".join(cards)


def _drifted_text(row: dict[str, Any], least: int) -> str:
    """What drifted in a segment's window, or why it was not judged."""
    if row["events"] < least:
        return f"not judged: fewer than min_events ({least:,}) events"
    return _e(", ".join(row["drifted_features"]) or "none")


def _version_section(data: ReportData, v: VersionData) -> str:
    parts = [
        (
            f'<section id="version-{_e(v.version)}"><h2>Drift per feature over time <span '
            f'class="sub">version {_e(v.version)}</span></h2>'
        )
    ]
    parts.append(
        '<div class="card scroll">'
        f"{heatmap(v, data.statistic, data.threshold)}"
        f"{heat_legend(data.statistic, data.threshold)}</div>"
    )
    share = [(s["window_end"], s["drifted_share"]) for s in v.summaries]
    events = [(s["window_end"], float(s["events"])) for s in v.summaries]
    late = [(s["window_end"], float(v.late.get(s["window_start"], 0))) for s in v.summaries]
    ds = data.model.drift_share
    parts.append(
        '<div class="cols"><div class="card"><h3>Dataset drift share</h3>'
        + line_chart(
            [Series("drifted share", "#6741d9", share)],
            percent=True,
            y_max=1.0,
            lines=[
                (ds.warning, "warning", _SEVERITY_COLOR["warning"]),
                (ds.critical, "critical", _SEVERITY_COLOR["critical"]),
            ],
        )
        + '</div><div class="card"><h3>Events per window</h3>'
        + line_chart([Series("events", "#1971c2", events), Series("late events", "#e8590c", late)])
        + "</div></div>"
    )
    if v.segments:
        parts.append(_segments(data, v))
    ranked = sorted(
        {f for (f, _), r in v.cells.items() if r["drift"]},
        key=lambda f: (
            -max(_stat(r, data.statistic) or 0 for (g, _), r in v.cells.items() if g == f)
        ),
    )
    parts.append(
        '<h2>Reference vs current <span class="sub">drifted features, worst first (latest '
        "window where each drifted)</span></h2>"
    )
    if not ranked:
        parts.append('<p class="empty card">No feature drifted in these windows.</p>')
    for f in ranked[:DRIFTED_SHOWN]:
        parts.append(_feature_card(data, v, f))
    if len(ranked) > DRIFTED_SHOWN:
        parts.append(
            f'<p class="caption">{len(ranked) - DRIFTED_SHOWN} more drifted features: '
            f"{_e(', '.join(ranked[DRIFTED_SHOWN:]))}.</p>"
        )
    parts.append("</section>")
    return "".join(parts)


_SEGMENT_COLORS = (
    "#1971c2",
    "#e8590c",
    "#2f9e44",
    "#ae3ec9",
    "#f08c00",
    "#0c8599",
    "#c2255c",
    "#5c940d",
    "#364fc7",
    "#868e96",
)


def _segments(data: ReportData, v: VersionData) -> str:
    """Dataset drift share per segment over time, and what drifted in each segment's latest
    window."""
    ds = data.model.drift_share
    series = [
        Series(
            seg,
            _SEGMENT_COLORS[i % len(_SEGMENT_COLORS)],
            [(s["window_end"], s["drifted_share"]) for s in rows],
        )
        for i, (seg, rows) in enumerate(sorted(v.segments.items()))
    ]
    least = data.model.min_events
    latest = "".join(
        f"<tr><th>{_e(seg)}</th><td "
        f'class="{_e(rows[-1]["severity"])}">{_e(rows[-1]["severity"])}</td><td>{rows[-1]["events"]:,}</td>'
        f"<td>{_drifted_text(rows[-1], least)}</td></tr>"
        for seg, rows in sorted(v.segments.items())
    )
    return (
        '<h2>Drift per segment <span class="sub">each segment against its own part of the '
        "reference (segments.keys)</span></h2>"
        '<div class="cols"><div class="card"><h3>Dataset drift share per segment</h3>'
        + line_chart(
            series,
            percent=True,
            y_max=1.0,
            lines=[
                (ds.warning, "warning", _SEVERITY_COLOR["warning"]),
                (ds.critical, "critical", _SEVERITY_COLOR["critical"]),
            ],
        )
        + (
            '</div><div class="card"><h3>Latest window per segment</h3><table '
            'class="stats"><thead><tr><th>segment</th><th>severity</th><th>events</th><th>drifted '
            "features</th></tr></thead>"
        )
        + f"<tbody>{latest}</tbody></table></div></div>"
    )


def _performance(data: ReportData) -> str:
    head = '<section id="performance"><h2>Performance: realized vs estimated</h2>'
    if not data.performance:
        return head + (
            '<p class="empty card">No performance recorded for this model yet: realized '
            "performance needs labels joined to predictions, estimated performance a "
            "configured estimator.</p></section>"
        )
    by_metric: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in data.performance:
        by_metric.setdefault((r["model_version"], r["metric"]), []).append(r)
    cards = []
    for (version, metric), rows in sorted(by_metric.items()):
        rows.sort(key=lambda r: r["window_end"])
        series = [
            Series("realized", "#1971c2", [(r["window_end"], r.get("realized")) for r in rows]),
            Series(
                "estimated",
                "#f08c00",
                [(r["window_end"], r.get("estimated")) for r in rows],
                dashed=True,
            ),
        ]
        values = [y for s in series for _, y in s.points if y is not None]
        low = (
            math.floor(max(0.0, min(values, default=0.0) - 0.05) * 10) / 10
        )  # zoom in on the metric's range
        cards.append(
            f'<div class="card"><h3>{_e(metric)} <span class="sub">version '
            f"{_e(version)}</span></h3>{line_chart(series, y_min=low)}</div>"
        )
    return head + '<div class="cols">' + "".join(cards) + "</div></section>"


def _alerts(data: ReportData) -> str:
    head = '<section id="alerts"><h2>Alert timeline</h2>'
    if not data.alerts:
        return head + '<p class="empty card">No alerts recorded for this model.</p></section>'
    lanes: dict[str, list[dict[str, Any]]] = {}
    for a in data.alerts:
        name = (
            a["rule"]
            + (f" · {a['feature']}" if a.get("feature") else "")
            + f" ({a.get('model_version', '')})"
        )
        lanes.setdefault(name, []).append(a)
    # The time axis spans the windows and the alerts; an alert still firing runs to the end.
    x0 = min([a["started_ms"] for a in data.alerts] + [v.windows[0][0] for v in data.versions])
    x1 = max(
        [a.get("resolved_ms") or a["started_ms"] for a in data.alerts]
        + [v.windows[-1][1] for v in data.versions]
    )
    x1 = max(x1, x0 + 1)
    L, R, T, lh, width = 260, 12, 6, 22, 1240
    h = T + lh * len(lanes) + 30
    pw = width - L - R

    def sx(x: float) -> float:
        return L + (x - x0) / (x1 - x0) * pw

    out = [f'<svg class="chart" viewBox="0 0 {width} {h}" width="{width}" height="{h}" role="img">']
    for i, (name, spans) in enumerate(sorted(lanes.items())):
        y = T + i * lh
        out.append(
            f'<text x="{L - 8}" y="{y + 15}" class="label" '
            f'text-anchor="end">{_e(name[:40])}</text><line x1="{L}" x2="{L + pw}" '
            f'y1="{y + lh / 2}" y2="{y + lh / 2}" class="grid"/>'
        )
        for a in spans:
            end = a.get("resolved_ms") or x1
            color = _SEVERITY_COLOR.get(a.get("severity", ""), "#c62828")
            state = "firing" if a.get("resolved_ms") is None else "resolved"
            out.append(
                f'<rect x="{sx(a["started_ms"]):.1f}" y="{y + 3}" '
                f'width="{max(sx(end) - sx(a["started_ms"]), 3):.1f}" height="{lh - 6}" '
                f'rx="3" fill="{color}"><title>{_e(name)}: {_e(a.get("severity", ""))} '
                f"{_when(a['started_ms'])} – {_when(end)} ({state})</title></rect>"
            )
    for i, t in enumerate(_time_ticks(x0, x1, 6)):
        anchor = "start" if i == 0 else "end" if i == 5 else "middle"
        out.append(
            f'<text x="{sx(t):.1f}" y="{h - 8}" class="tick" '
            f'text-anchor="{anchor}">{_when(int(t), int(x1 - x0))}</text>'
        )
    out.append("</svg>")
    legend = "".join(
        f'<span class="key"><i style="background:{c}"></i>{s}</span>'
        for s, c in _SEVERITY_COLOR.items()
        if s != "ok"
    )
    return head + (
        f'<div class="card scroll">{"".join(out)}<div class="legend">{legend}</div></div></section>'
    )


_CSS = """
*{box-sizing:border-box}body{margin:0;font:14px/1.45 -apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:#212529;background:#f1f3f5}
header{background:#212529;color:#f8f9fa;padding:20px 32px}header h1{margin:0;font-size:24px}header p{margin:4px 0 0;color:#adb5bd}
main{padding:16px 32px 40px;max-width:1340px}h2{font-size:18px;margin:28px 0 10px}h3{font-size:15px;margin:0 0 8px}h4{font-size:13px;margin:12px 0 4px;color:#495057}
.sub{font-weight:400;color:#868e96;font-size:13px;margin-left:8px}.card{background:#fff;border-radius:8px;padding:14px 16px;margin:10px 0;box-shadow:0 1px 2px rgba(0,0,0,.08)}
.scroll{overflow-x:auto}.cols{display:flex;gap:16px;flex-wrap:wrap}.cols>div{flex:1 1 420px;min-width:0}.cols>.card{margin:10px 0}
.kpis{display:flex;gap:12px;flex-wrap:wrap;margin:10px 0}.kpi{background:#fff;border-radius:8px;padding:10px 14px;flex:1 1 150px;box-shadow:0 1px 2px rgba(0,0,0,.08)}
.kpi span{display:block;color:#868e96;font-size:12px;text-transform:uppercase;letter-spacing:.04em}.kpi b{display:block;font-size:22px;margin:2px 0}.kpi small{color:#495057;font-size:12px}
.ok{color:#2e7d32}.warning{color:#ef6c00}.critical{color:#c62828}
.badge{font-size:12px;padding:2px 8px;border-radius:10px;color:#fff;margin-left:6px;vertical-align:middle}.badge.ok{background:#2e7d32}.badge.warning{background:#ef6c00}.badge.critical{background:#c62828}
svg.chart{display:block;max-width:100%;height:auto}svg .grid{stroke:#e9ecef}svg .axis{stroke:#adb5bd}svg .tick{font-size:11px;fill:#6c757d}svg .label{font-size:12px;fill:#343a40}
.legend{font-size:12px;color:#495057;margin-top:6px;display:flex;flex-wrap:wrap;gap:4px 14px;align-items:center}.key i{display:inline-block;width:12px;height:12px;border-radius:2px;margin-right:5px;vertical-align:-2px}
.key i.dot{background:#212121;border-radius:50%;width:8px;height:8px;vertical-align:0}.key i.hatch{background:repeating-linear-gradient(45deg,#eee 0 3px,#bdbdbd 3px 5px)}
.swatch{display:inline-block;width:22px;height:12px}table.stats{border-collapse:collapse;width:100%;font-size:13px}table.stats th,table.stats td{text-align:left;padding:3px 8px;border-bottom:1px solid #f1f3f5}
table.stats thead th{color:#868e96;font-weight:600;font-size:12px}table.stats tbody th{font-weight:500;color:#495057;width:42%}.caption{color:#868e96;font-size:12px;margin:4px 0 0}
.empty{color:#868e96}.feature h3{display:flex;align-items:center;flex-wrap:wrap}footer{color:#868e96;font-size:12px;padding:0 32px 24px}
"""  # noqa: E501 (a style sheet, minified: one line per group of rules)


def render(data: ReportData) -> str:
    """The whole page."""
    title = f"Drift report: {data.model_id}"
    stat_note = f"Heatmap statistic: {data.statistic}" + (
        f" (warning {_num(data.threshold.warning)}, critical {_num(data.threshold.critical)})"
        if data.threshold
        else ""
    )
    window = f"{_duration(data.model.window_ms)} windows" + (
        f" sliding by {_duration(data.model.slide_ms)}"
        if data.model.slide_ms != data.model.window_ms
        else ""
    )
    body = [
        (
            f"<header><h1>{_e(title)}</h1><p>{window} · {len(data.model.features)} features · "
            f"{_e(stat_note)} · generated {_when(data.generated_ms)} UTC</p></header><main>"
        )
    ]
    if not data.versions:
        body.append(
            '<p class="empty card">No closed windows for this model (yet). Run '
            "<code>monitor run</code> or <code>monitor replay</code> first.</p>"
        )
    else:
        body.append(_summary(data))
        for v in data.versions:
            body.append(_version_section(data, v))
    body.append(_performance(data))
    body.append(_alerts(data))
    body.append(
        "</main><footer>monitor report · every chart is inline SVG; hover a cell or point "
        "for its values.</footer>"
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>{''.join(body)}</body></html>\n"
    )
