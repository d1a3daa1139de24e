"""One window feature by feature: the table of every feature's statistics, thresholds and
verdict, and reference vs current for the features that are not ok.

A numeric window row carries its histogram over the reference's coarse bins
(``quality["histogram"]``: ``{"edges": [...], "counts": [below, per bin..., above]}``), a
categorical one its counts per reference category then unseen (``{"counts": [...]}``). Numeric
bins are reference quantiles, of very unequal widths: they are drawn with their true widths
(:func:`~monitor.report.charts.density_chart`). A row without a histogram (written before
windows kept one) is drawn by what it keeps: its range, or its unseen share.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from monitor.config import ModelConfig
from monitor.drift import higher_is_worse, severity_of
from monitor.format import verdict_text
from monitor.reference import CategoricalProfile, NumericProfile
from monitor.report.charts import (
    Series,
    TimeAxis,
    bar_chart,
    density_chart,
    line_chart,
    y_grid,
)
from monitor.report.fmt import (
    CUR_COLOR,
    REF_COLOR,
    SEVERITY_COLOR,
    esc,
    num,
    pct,
    short,
    ticks,
)

__all__ = ["feature_card", "feature_table"]

Row = dict[str, Any]
Profile = NumericProfile | CategoricalProfile


def _badge(severity: str) -> str:
    return f'<span class="badge {esc(severity)}">{esc(severity)}</span>'


def _threshold_text(model: ModelConfig, stat: str) -> str:
    t = model.threshold(stat)
    if t is None:
        return "no threshold"
    sign = "≥" if higher_is_worse(stat) else "≤"
    return f"{sign} {num(t.warning)} / {sign} {num(t.critical)}"


def feature_table(model: ModelConfig, rows: list[Row]) -> str:
    """Every feature of one window, worst first: its events and missing rate, each configured
    statistic coloured by its own verdict (thresholds under the statistic's name), the
    feature's severity and the verdict that decided it."""
    stats = [s for s in model.statistics if any(s in (r["statistics"] or {}) for r in rows)]
    head = "".join(
        f'<th class="num">{esc(s)}<small>{esc(_threshold_text(model, s))}</small></th>'
        for s in stats
    )
    body = []
    for r in rows:
        values = r["statistics"] or {}
        judged = not r["baseline"] and not (r["quality"] or {}).get("too_few_values")
        cells = []
        for s in stats:
            v = values.get(s)
            level = severity_of(s, v, model.threshold(s)) if judged else "ok"
            cls = f"num {level}" if level != "ok" else "num"
            cells.append(f'<td class="{cls}">{num(v, 3)}</td>')
        note = (
            ""
            if judged
            else ' <small class="sub">not judged: '
            + ("baseline window" if r["baseline"] else f"fewer than {model.min_events:,} values")
            + "</small>"
        )
        body.append(
            f'<tr><th title="{esc(r["feature"])}">{esc(short(r["feature"], 40))}</th>'
            f'<td>{esc(r["kind"])}</td><td class="num">{r["count"]:,}</td>'
            f'<td class="num">{pct((r["quality"] or {}).get("missing_rate"))}</td>'
            f"{''.join(cells)}<td>{_badge(r['severity'])}{note}</td>"
            f"<td>{esc(verdict_text(r['decided_by']))}</td></tr>"
        )
    return (
        '<p class="caption">Under each statistic: its warning / critical thresholds; each value '
        "is coloured by its own verdict, the severity is the worst verdict (statistics or data "
        "quality).</p>"
        '<table class="stats features"><thead><tr><th>feature</th><th>kind</th>'
        f'<th class="num">events</th><th class="num">missing</th>{head}<th>severity</th>'
        f"<th>decided by</th></tr></thead><tbody>{''.join(body)}</tbody></table>"
    )


# -- reference vs current -----------------------------------------------------------------------
def _histogram_chart(profile: Profile, hist: dict[str, Any]) -> tuple[str, str] | None:
    """Reference vs window over the window's histogram bins, with a caption; None when the
    histogram does not fit the profile."""
    counts = np.asarray(hist.get("counts") or [], float)
    total = counts.sum()
    if total <= 0:
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
        ref_share, cur_share = ref / max(ref.sum(), 1), counts / total
        chart = density_chart(
            edges.tolist(),
            [("reference", REF_COLOR, ref_share[1:-1]), ("window", CUR_COLOR, cur_share[1:-1])],
        )
        caption = (
            f"{edges.size - 1} bins between reference quantiles, each drawn as wide as it is "
            "(a bar's area is its share). Outside the reference range, not drawn: "
            f"{pct(cur_share[0])} of the window below it, {pct(cur_share[-1])} above."
        )
        return chart, caption
    if counts.size != len(profile.vocab) + 1:
        return None
    ref = profile.counts[: counts.size].astype(float)
    labels = [*profile.vocab, "(unseen)"]
    keep = np.sort(np.argsort(-(ref / max(ref.sum(), 1) + counts / total))[:16])
    chart = bar_chart(
        [labels[i] for i in keep],
        [
            ("reference", REF_COLOR, (ref / max(ref.sum(), 1))[keep]),
            ("window", CUR_COLOR, (counts / total)[keep]),
        ],
    )
    more = len(labels) - keep.size
    return chart, "Category shares in the reference and the window" + (
        f" (the 16 largest; {more} more categories not drawn)." if more else "."
    )


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


def _range_chart(profile: NumericProfile, row: Row, width: int = 620, height: int = 220) -> str:
    """Reference histogram with the window's [min, max] drawn over it (a row without its
    histogram keeps no more)."""
    display, shares = _numeric_reference(profile)
    q = row["quality"] or {}
    cmin, cmax = q.get("min"), q.get("max")
    lo, hi = float(display[0]), float(display[-1])
    pad = 0.5 * (hi - lo) or 1.0
    x0 = min(lo, cmin if cmin is not None else lo)
    x1 = max(hi, cmax if cmax is not None else hi)
    clipped_lo, clipped_hi = x0 < lo - pad, x1 > hi + pad  # far outliers: do not squash
    x0, x1 = max(x0, lo - pad) - 0.02 * pad, min(x1, hi + pad) + 0.02 * pad
    L, R, T, B = 48, 10, 22, 30
    pw, ph = width - L - R, height - T - B
    yticks = ticks(0, float(shares.max()) * 1.1 or 1, 4)

    def sx(x: float) -> float:
        return L + (x - x0) / (x1 - x0) * pw

    def sy(y: float) -> float:
        return T + ph - y / yticks[-1] * ph

    out = [
        (
            f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
            'role="img">'
        )
    ]
    out.append(y_grid(yticks, L, pw, sy, pct))
    if cmin is not None and cmax is not None:
        a, b = sx(max(cmin, x0)), sx(min(cmax, x1))
        out.append(
            f'<rect x="{a:.1f}" y="{T}" width="{max(b - a, 2):.1f}" height="{ph}" '
            f'fill="{CUR_COLOR}" opacity="0.16"/>'
        )
        for x in (a, b):
            out.append(
                f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{T}" y2="{T + ph}" stroke="{CUR_COLOR}" '
                'stroke-width="2"/>'
            )
        out.append(
            f'<text x="{a + 3:.1f}" y="{T - 8}" class="tick" fill="{CUR_COLOR}">'
            f"{'← ' if clipped_lo else ''}window min {num(cmin)}</text>"
            f'<text x="{b - 3:.1f}" y="{T - 8}" class="tick" fill="{CUR_COLOR}" '
            f'text-anchor="end">window max {num(cmax)}{" →" if clipped_hi else ""}</text>'
        )
    for i, share in enumerate(shares):
        a, b = sx(display[i]), sx(display[i + 1])
        out.append(
            f'<rect x="{a:.1f}" y="{sy(share):.1f}" width="{max(b - a - 0.5, 0.5):.1f}" '
            f'height="{T + ph - sy(share):.1f}" fill="{REF_COLOR}" opacity="0.85"><title>'
            f"reference [{num(display[i])}, {num(display[i + 1])}): {pct(share)}</title></rect>"
        )
    for t in ticks(x0, x1, 6):
        if x0 <= t <= x1:
            out.append(
                f'<text x="{sx(t):.1f}" y="{height - 10}" class="tick" text-anchor="middle">'
                f"{num(t)}</text>"
            )
    out.append(f'<line x1="{L}" x2="{L + pw}" y1="{T + ph}" y2="{T + ph}" class="axis"/></svg>')
    out.append(
        f'<div class="legend"><span class="key"><i style="background:{REF_COLOR}"></i>reference '
        f'distribution</span><span class="key"><i style="background:{CUR_COLOR};opacity:.5">'
        "</i>window range [min, max]</span></div>"
    )
    return "".join(out)


def _categorical_chart(profile: CategoricalProfile, row: Row) -> str:
    """Reference shares per category, and the window's unseen share (a row without its
    histogram keeps no more)."""
    shares = profile.counts[:-1] / max(profile.counts[:-1].sum(), 1)
    top = min(len(profile.vocab), 15)
    other = len(profile.vocab) > top
    labels = [*profile.vocab[:top], *(["(other)"] if other else []), "(unseen)"]
    ref = [*shares[:top], *([float(shares[top:].sum())] if other else []), 0.0]
    unseen = (row["quality"] or {}).get("unseen_share") or 0.0
    cur = [0.0] * (len(labels) - 1) + [unseen]
    return bar_chart(
        labels,
        [("reference share", REF_COLOR, ref), ("window: share of unseen values", CUR_COLOR, cur)],
    )


def _chart(profile: Profile | None, row: Row) -> tuple[str, str]:
    hist = (row["quality"] or {}).get("histogram")
    drawn = _histogram_chart(profile, hist) if profile and isinstance(hist, dict) else None
    if drawn is not None:
        return drawn
    if isinstance(profile, NumericProfile):
        return _range_chart(profile, row), (
            "Reference: its central 99%. This window row keeps no histogram: the window is "
            "drawn by its range [min, max]; its shares and distances are in the table."
        )
    if isinstance(profile, CategoricalProfile):
        return _categorical_chart(profile, row), (
            "Reference shares per category; this window row keeps only the share of unseen "
            "values (and the most frequent ones)."
        )
    return '<p class="empty">no reference profile for this column</p>', ""


def _stats_table(profile: Profile | None, row: Row) -> str:
    q, s = row["quality"] or {}, row["statistics"] or {}
    rows: list[tuple[str, str, str]] = []
    if isinstance(profile, NumericProfile):
        rows.append(
            (
                "range",
                f"[{num(float(profile.edges[0]))}, {num(float(profile.edges[-1]))}]",
                f"[{num(q.get('min'))}, {num(q.get('max'))}]",
            )
        )
        rows.append(("outside the reference range", "0%", pct(q.get("out_of_range"))))
    elif isinstance(profile, CategoricalProfile):
        rows.append(("categories", str(len(profile.vocab)), ""))
        rows.append(("unseen values", "0%", pct(q.get("unseen_share"))))
        top = q.get("unseen_top") or {}
        if top:
            shown = ", ".join(f"{esc(short(str(k), 40))} ({v})" for k, v in list(top.items())[:4])
            rows.append(("most frequent unseen", "", shown))
    if profile is not None:
        ref_missing = profile.missing / max(int(profile.counts.sum()) + profile.missing, 1)
        rows.append(("missing values", pct(ref_missing), pct(q.get("missing_rate"))))
    rows.append(("events in the window", "", f"{row['count']:,}"))
    for name in ("psi", "ks", "ks_pvalue", "js", "wasserstein", "chi2", "chi2_pvalue"):
        if s.get(name) is not None:
            rows.append((name, "", num(s[name], 4)))
    body = "".join(f"<tr><th>{esc(a)}</th><td>{b}</td><td>{c}</td></tr>" for a, b, c in rows)
    sev = row["severity"]
    return (
        '<table class="stats"><thead><tr><th></th><th>reference</th><th>window</th></tr></thead>'
        f"<tbody>{body}<tr><th>severity</th><td></td><td><b "
        f'style="color:{SEVERITY_COLOR.get(sev, "#000")}">{esc(sev)}</b></td></tr></tbody></table>'
    )


def feature_card(
    row: Row,
    profile: Profile | None,
    trend: list[tuple[float, float | None]],
    axis: TimeAxis,
    model: ModelConfig,
    statistic: str,
    flagged: int,
) -> str:
    """Reference vs current for one feature of the window detailed (``row``), with its
    ``statistic`` over every window (``trend``: (window middle, value)); ``flagged``: in how
    many windows the feature was flagged."""
    chart, caption = _chart(profile, row)
    th = model.threshold(statistic)
    lines = (
        [
            (th.warning, "warning", SEVERITY_COLOR["warning"]),
            (th.critical, "critical", SEVERITY_COLOR["critical"]),
        ]
        if th and higher_is_worse(statistic)
        else []
    )
    over_time = line_chart(
        [Series(statistic, "#37474f", trend)],
        axis,
        width=420,
        height=170,
        lines=lines,
        mark=(row["window_start"], row["window_end"]),
    )
    name = row["feature"]
    return (
        f'<div class="card feature"><h3 title="{esc(name)}">{esc(short(name, 80))} '
        f'{_badge(row["severity"])}<span class="sub">{esc(verdict_text(row["decided_by"]))} · '
        f"flagged in {flagged} of {len(trend)} windows</span></h3>"
        f'<div class="cols"><div>{chart}<p class="caption">{esc(caption)}</p></div>'
        f"<div>{_stats_table(profile, row)}<h4>{esc(statistic)} over every window</h4>"
        f"{over_time}</div></div></div>"
    )
