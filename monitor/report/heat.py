"""Heatmaps: features x windows (drift over time) and segments x features (where drift is).

Cells are coloured by one statistic against its warning and critical thresholds
(:func:`~monitor.report.fmt.heat_color`); a dot marks a cell flagged by any statistic or by data
quality. Names are cut to fit and escaped; the whole name is in the cell's tooltip.
"""

from __future__ import annotations

from typing import Any

from monitor.config import Threshold
from monitor.format import verdict_text
from monitor.report.charts import tick_interval
from monitor.report.data import VersionData
from monitor.report.fmt import esc, heat_color, num, short, when

__all__ = ["heat_legend", "heatmap", "segment_heatmap"]

#: The diagonal hatch of baseline windows (their drift is not judged).
_BASE = (
    '<defs><pattern id="base" width="6" height="6" patternUnits="userSpaceOnUse" '
    'patternTransform="rotate(45)"><rect width="6" height="6" fill="#eeeeee"/><line x1="0" '
    'y1="0" x2="0" y2="6" stroke="#bdbdbd" stroke-width="2"/></pattern></defs>'
)


def _stat(row: dict[str, Any] | None, statistic: str) -> float | None:
    return None if row is None else (row["statistics"] or {}).get(statistic)


def _cell(
    x: float,
    y: float,
    w: float,
    h: float,
    row: dict[str, Any],
    statistic: str,
    th: Threshold | None,
    dot_x: float | None = None,
) -> str:
    """One cell with its tooltip, and a dot when flagged (``dot_x`` from its left, default
    the middle)."""
    value = _stat(row, statistic)
    fill = "url(#base)" if row["baseline"] else heat_color(value, th)
    tip = (
        f"{row['feature']} · {row['segment'] or 'all'} · {when(row['window_start'])}–"
        f"{when(row['window_end'])[11:]} UTC: {statistic}={num(value, 4)}, {row['severity']} "
        f"({verdict_text(row['decided_by'])}), {row['count']:,} events"
        + (" (baseline)" if row["baseline"] else "")
    )
    out = (
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h}" fill="{fill}" stroke="#fff" '
        f'stroke-width="{1 if w > 4 else 0}"><title>{esc(tip)}</title></rect>'
    )
    if row["severity"] != "ok" and w >= 5:
        out += (
            f'<circle cx="{x + (w / 2 if dot_x is None else dot_x):.1f}" cy="{y + h / 2:.1f}" '
            f'r="{min(3.2, w / 4):.1f}" '
            'fill="#212121"/>'
        )
    return out


def heatmap(v: VersionData, statistic: str, threshold: Threshold | None, width: int = 1240) -> str:
    """Features (rows) x windows (columns); the window detailed below is framed. A labelled
    tick marks the start of a window, on round multiples of the window step."""
    n = len(v.windows)
    label_w = min(260, max(70, 7 * max(len(f) for f in v.features) + 16))
    L, T, B, R = label_w, 6, 34, 84  # room on the right for the last time label
    cw = min(90.0, (width - L - R) / n)
    ch = 20
    h = T + ch * len(v.features) + B
    w = int(L + cw * n + R)
    span = v.windows[-1][1] - v.windows[0][0]
    out = [f'<svg class="chart heat" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img">']
    out.append(_BASE)
    for i, f in enumerate(v.features):
        y = T + i * ch
        out.append(
            f'<text x="{L - 8}" y="{y + ch / 2 + 4:.1f}" class="label" text-anchor="end">'
            f"<title>{esc(f)}</title>{esc(short(f, (L - 16) // 7))}</text>"
        )
        for j, (start, _) in enumerate(v.windows):
            row = v.cells.get((f, start))
            x = L + j * cw
            if row is None:
                out.append(
                    f'<rect x="{x:.1f}" y="{y}" width="{cw:.1f}" height="{ch}" fill="#fafafa"/>'
                )
            else:
                out.append(_cell(x, y, cw, ch, row, statistic, threshold))
    j = v.windows.index(v.selected)
    out.append(
        f'<rect x="{L + j * cw - 1:.1f}" y="{T - 3}" width="{cw + 2:.1f}" '
        f'height="{ch * len(v.features) + 6}" fill="none" stroke="#1c7ed6" stroke-width="2.5">'
        "<title>the window detailed below</title></rect>"
    )
    step = v.windows[1][0] - v.windows[0][0] if n > 1 else span or 1
    every = tick_interval(step, cw)
    phase = v.windows[0][0] % step
    for j, (start, _) in enumerate(v.windows):
        x = L + j * cw
        if cw >= 4:  # a mark per window boundary
            out.append(
                f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{h - B}" y2="{h - B + 3}" class="axis"/>'
            )
        if (start - phase) % every == 0:
            out.append(
                f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{h - B}" y2="{h - B + 7}" class="axis"/>'
                f'<text x="{x:.1f}" y="{h - 14}" class="tick" text-anchor="middle">'
                f"{when(start, span)}</text>"
            )
    out.append("</svg>")
    return "".join(out)


def segment_heatmap(
    v: VersionData, statistic: str, threshold: Threshold | None, width: int = 1240
) -> str:
    """Segments (rows, the whole population first) x features (columns): each cell is the
    segment's worst window of the feature, its value written in it when there is room."""
    segments = ["", *sorted(v.segments)]
    names = [short(s or "(all)", 40) for s in segments]
    label_w = min(300, max(70, 7 * max(len(n) for n in names) + 16))
    L, T, R, B = label_w, 96, 10, 6
    cw = min(64.0, (width - L - R) / len(v.features))
    ch = 24
    w, h = int(L + cw * len(v.features) + R), T + ch * len(segments) + B
    out = [f'<svg class="chart heat" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img">']
    out.append(_BASE)
    for j, f in enumerate(v.features):
        x = L + j * cw + cw / 2
        out.append(
            f'<text class="label" transform="translate({x + 4:.1f},{T - 6}) rotate(-45)">'
            f"<title>{esc(f)}</title>{esc(short(f, 16))}</text>"
        )
    for i, (segment, name) in enumerate(zip(segments, names)):
        y = T + i * ch
        weight = ' font-weight="600"' if not segment else ""
        out.append(
            f'<text x="{L - 8}" y="{y + ch / 2 + 4:.1f}" class="label" text-anchor="end"'
            f"{weight}><title>{esc(segment or 'the whole population')}</title>{esc(name)}</text>"
        )
        for j, f in enumerate(v.features):
            row = v.segment_worst.get((segment, f))
            x = L + j * cw
            if row is None:
                out.append(
                    f'<rect x="{x:.1f}" y="{y}" width="{cw:.1f}" height="{ch}" fill="#fafafa" '
                    'stroke="#fff"/>'
                )
                continue
            value = _stat(row, statistic)
            room = cw >= 34 and value is not None  # for the value, with the dot on its left
            out.append(_cell(x, y, cw, ch, row, statistic, threshold, 7 if room else None))
            if room and value is not None:
                dark = threshold is not None and value >= threshold.critical
                fill = "#fff" if dark else "#212529"
                out.append(
                    f'<text x="{x + cw / 2 + 4:.1f}" y="{y + ch / 2 + 4}" class="cellnum" '
                    f'fill="{fill}" text-anchor="middle">{num(value, 2)}</text>'
                )
    out.append(
        f'<line x1="{L}" x2="{L + cw * len(v.features)}" y1="{T + ch}" y2="{T + ch}" '
        'stroke="#495057" stroke-width="1.5"/></svg>'
    )
    return "".join(out)


def heat_legend(statistic: str, threshold: Threshold | None, framed: bool = False) -> str:
    w, c = (threshold.warning, threshold.critical) if threshold else (0.1, 0.25)
    stops = [0, w / 2, w, (w + c) / 2, c, 1.5 * c, 2 * c]
    cells = "".join(
        f'<span class="swatch" style="background:{heat_color(v, threshold)}"></span>' for v in stops
    )
    return (
        f'<div class="legend">{esc(statistic)}: {cells} <span>0 → warning {num(w)} → '
        f"critical {num(c)} → {num(2 * c)}+</span>"
        '<span class="key"><i class="dot"></i>flagged (any statistic or data quality)</span>'
        '<span class="key"><i class="hatch"></i>baseline window</span>'
        '<span class="key"><i style="background:#e0e0e0"></i>not computed</span>'
        + (
            '<span class="key"><i class="frame"></i>the window detailed below</span>'
            if framed
            else ""
        )
        + "</div>"
    )
