"""The page: its sections in order, the style sheet, and :func:`render`."""

from __future__ import annotations

import math
from typing import Any

from monitor.report.charts import Series, TimeAxis, line_chart, time_ticks
from monitor.report.data import ReportData, VersionData
from monitor.report.features import feature_card, feature_table
from monitor.report.fmt import SEVERITY_COLOR, duration, esc, num, pct, short, when
from monitor.report.heat import heat_legend, heatmap, segment_heatmap

__all__ = ["render"]

#: Reference-vs-current cards per version, worst features first.
CARDS_SHOWN = 8

_SEGMENT_NOTE = (
    "each segment against its own part of the reference (segments.keys); a cell is the "
    "segment's worst window of the feature"
)


def _axis(data: ReportData, v: VersionData) -> TimeAxis:
    return TimeAxis(v.windows[0][0], v.windows[-1][1], data.model.slide_ms)


def _middle(row: dict[str, Any]) -> float:
    return (row["window_start"] + row["window_end"]) / 2


def _summary(v: VersionData) -> str:
    n = len(v.windows)
    drifted_windows = sum(1 for s in v.summaries if s["drifted"] or s["prediction_drift"])
    features = [f for f in v.features if any(r["drift"] for r in _rows(v, f))]
    latest = v.summaries[-1] if v.summaries else None
    sev = latest["severity"] if latest else "ok"
    events = sum(s["events"] for s in v.summaries)
    ref = (
        f"reference v{v.reference.version} ({v.reference.rows:,} rows"
        f"{', ' + esc(short(v.reference.source, 60)) if v.reference.source else ''})"
        if v.reference
        else "no reference"
    )
    drifted = ", ".join(short(f, 30) for f in features[:8]) + (" …" if len(features) > 8 else "")
    kpis = [
        ("version", esc(short(v.version, 40)), ref),
        ("windows", str(n), f"{when(v.windows[0][0])} – {when(v.windows[-1][1])} UTC"),
        ("windows with drift", str(drifted_windows), f"{pct(drifted_windows / n)} of them"),
        ("features that drifted", str(len(features)), esc(drifted) or "none"),
        (
            "latest window",
            sev,
            f"{pct(latest['drifted_share']) if latest else '–'} of features drifted",
        ),
        ("events", f"{events:,}", f"{sum(v.late.values()):,} late"),
    ]
    return (
        '<div class="kpis">'
        + "".join(
            f'<div class="kpi"><span>{name}</span><b class="{esc(value)}">{value}</b>'
            f"<small>{note}</small></div>"
            for name, value, note in kpis
        )
        + "</div>"
    )


def _rows(v: VersionData, feature: str) -> list[dict[str, Any]]:
    return [r for s, _ in v.windows if (r := v.cells.get((feature, s))) is not None]


def _over_time(data: ReportData, v: VersionData) -> str:
    axis = _axis(data, v)
    share = [(_middle(s), s["drifted_share"]) for s in v.summaries]
    events = [(_middle(s), float(s["events"])) for s in v.summaries]
    late = [(_middle(s), float(v.late.get(s["window_start"], 0))) for s in v.summaries]
    ds = data.model.drift_share
    return (
        f'<section id="version-{esc(v.version)}"><h2>Drift per feature over time <span '
        f'class="sub">version {esc(short(v.version, 60))} · the framed window is detailed '
        "below</span></h2>"
        f'<div class="card scroll">{heatmap(v, data.statistic, data.threshold)}'
        f"{heat_legend(data.statistic, data.threshold, framed=True)}</div>"
        '<div class="cols"><div class="card"><h3>Dataset drift share</h3>'
        + line_chart(
            [Series("drifted share", "#6741d9", share)],
            axis,
            percent=True,
            y_max=1.0,
            lines=[
                (ds.warning, "warning", SEVERITY_COLOR["warning"]),
                (ds.critical, "critical", SEVERITY_COLOR["critical"]),
            ],
            mark=v.selected,
        )
        + '</div><div class="card"><h3>Events per window</h3>'
        + line_chart(
            [Series("events", "#1971c2", events), Series("late events", "#e8590c", late)],
            axis,
            mark=v.selected,
        )
        + "</div></div>"
    )


def _segments(data: ReportData, v: VersionData) -> str:
    """The segments x features heatmap, and per segment what drifted there and only there."""
    whole = {f for s in v.summaries for f in s["drifted_features"]}
    rows = []
    for segment, summaries in sorted(v.segments.items()):
        flagged = sum(1 for s in summaries if s["drifted"] or s["prediction_drift"])
        drifted = sorted({f for s in summaries for f in s["drifted_features"]})
        only = [f for f in drifted if f not in whole]
        rows.append(
            f'<tr><th title="{esc(segment)}">{esc(short(segment, 60))}</th>'
            f"<td>{flagged} of {len(summaries)}</td>"
            f"<td>{esc(', '.join(short(f, 40) for f in drifted)) or 'none'}</td>"
            f'<td class="{"critical" if only else ""}">'
            f"{esc(', '.join(short(f, 40) for f in only)) or 'none'}</td></tr>"
        )
    return (
        f'<h2>Drift per segment <span class="sub">{_SEGMENT_NOTE}</span></h2>'
        f'<div class="card scroll">{segment_heatmap(v, data.statistic, data.threshold)}'
        f"{heat_legend(data.statistic, data.threshold)}</div>"
        '<div class="card"><table class="stats"><thead><tr><th>segment</th><th>windows with '
        "drift</th><th>features that drifted</th><th>drifted there only (not in the whole "
        f"population)</th></tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def _window(data: ReportData, v: VersionData) -> str:
    """The window detailed: why it was chosen, every feature, reference vs current."""
    start, end = v.selected
    rows = v.rows_of(start)
    top = rows[0]
    which = "the window asked for" if v.asked else f"the worst of {len(v.windows)} windows shown"
    why = f"{which}: {esc(top['severity'])}, decided by {esc(short(top['feature'], 60))}"
    decided = top["decided_by"]
    if decided and decided["threshold"]:
        ratio = decided["value"] / decided["threshold"]
        why += f" ({esc(decided['statistic'])} {num(ratio, 2)}× its threshold)"
    if (start, end) != v.windows[-1]:
        why += f"; the latest window ends {when(v.windows[-1][1])} UTC"
    parts = [
        (
            f'<h2>Window {when(start)} – {when(end)} UTC <span class="sub">{why}</span></h2>'
            f'<div class="card scroll">{feature_table(data.model, rows)}</div>'
            '<h2>Reference vs current <span class="sub">in this window: the features not ok, '
            "worst first</span></h2>"
        )
    ]
    bad = [r for r in rows if r["severity"] != "ok"]
    if not bad:
        parts.append('<p class="empty card">Every feature is ok in this window.</p>')
    axis = _axis(data, v)
    for r in bad[:CARDS_SHOWN]:
        f = r["feature"]
        series = _rows(v, f)
        trend = [(_middle(x), (x["statistics"] or {}).get(data.statistic)) for x in series]
        flagged = sum(1 for x in series if x["severity"] != "ok")
        profile = v.reference.columns.get(f) if v.reference else None
        parts.append(feature_card(r, profile, trend, axis, data.model, data.statistic, flagged))
    if len(bad) > CARDS_SHOWN:
        rest = ", ".join(short(r["feature"], 40) for r in bad[CARDS_SHOWN:])
        parts.append(
            f'<p class="caption">{len(bad) - CARDS_SHOWN} more features not ok: {esc(rest)}.</p>'
        )
    return "".join(parts)


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
        rows.sort(key=lambda r: r["window_start"])
        axis = TimeAxis(rows[0]["window_start"], rows[-1]["window_end"], data.model.slide_ms)
        series = [
            Series("realized", "#1971c2", [(_middle(r), r["realized"]) for r in rows]),
            Series(
                "estimated", "#f08c00", [(_middle(r), r["estimated"]) for r in rows], dashed=True
            ),
        ]
        values = [y for s in series for _, y in s.points if y is not None]
        low = math.floor(max(0.0, min(values, default=0.0) - 0.05) * 10) / 10  # zoom in
        cards.append(
            f'<div class="card"><h3>{esc(metric)} <span class="sub">version '
            f"{esc(short(version, 60))}</span></h3>{line_chart(series, axis, y_min=low)}</div>"
        )
    return head + '<div class="cols">' + "".join(cards) + "</div></section>"


def _alerts(data: ReportData) -> str:
    head = '<section id="alerts"><h2>Alert timeline</h2>'
    if not data.alerts:
        return head + '<p class="empty card">No alerts recorded for this model.</p></section>'
    lanes: dict[str, list[dict[str, Any]]] = {}
    for a in data.alerts:
        feature = f" · {a['feature']}" if a["feature"] else ""
        lanes.setdefault(f"{a['rule']}{feature} ({a['model_version']})", []).append(a)
    # The axis spans the windows and the alerts, on window boundaries; a firing alert runs on.
    step = data.model.slide_ms
    x0 = min([a["started_ms"] for a in data.alerts] + [v.windows[0][0] for v in data.versions])
    x1 = max(
        [a["resolved_ms"] or a["started_ms"] for a in data.alerts]
        + [v.windows[-1][1] for v in data.versions]
    )
    axis = TimeAxis(x0 - x0 % step, x1 + (-x1) % step or x0 + step, step)
    L, R, T, lh, width = 260, 12, 6, 22, 1240
    h = T + lh * len(lanes) + 30
    pw = width - L - R

    def sx(x: float) -> float:
        return L + (x - axis.start) / (axis.end - axis.start) * pw

    out = [f'<svg class="chart" viewBox="0 0 {width} {h}" width="{width}" height="{h}" role="img">']
    out.append(time_ticks(axis, L, pw, T, h - 30, h - 8))
    for i, (name, spans) in enumerate(sorted(lanes.items())):
        y = T + i * lh
        out.append(
            f'<text x="{L - 8}" y="{y + 15}" class="label" text-anchor="end"><title>{esc(name)}'
            f'</title>{esc(short(name, 40))}</text><line x1="{L}" x2="{L + pw}" '
            f'y1="{y + lh / 2}" y2="{y + lh / 2}" class="grid"/>'
        )
        for a in spans:
            end = a["resolved_ms"] or x1
            color = SEVERITY_COLOR.get(a["severity"], "#c62828")
            state = "firing" if a["resolved_ms"] is None else "resolved"
            out.append(
                f'<rect x="{sx(a["started_ms"]):.1f}" y="{y + 3}" '
                f'width="{max(sx(end) - sx(a["started_ms"]), 3):.1f}" height="{lh - 6}" rx="3" '
                f'fill="{color}"><title>{esc(name)}: {esc(a["severity"])} '
                f"{when(a['started_ms'])} – {when(end)} ({state})</title></rect>"
            )
    out.append(f'<line x1="{L}" x2="{L + pw}" y1="{h - 30}" y2="{h - 30}" class="axis"/></svg>')
    legend = "".join(
        f'<span class="key"><i style="background:{c}"></i>{s}</span>'
        for s, c in SEVERITY_COLOR.items()
        if s != "ok"
    )
    return head + (
        f'<div class="card scroll">{"".join(out)}<div class="legend">{legend}</div></div></section>'
    )


_CSS = """
*{box-sizing:border-box}body{margin:0;font:14px/1.45 -apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:#212529;background:#f1f3f5}
header{background:#212529;color:#f8f9fa;padding:20px 32px}header h1{margin:0;font-size:24px;overflow-wrap:anywhere}header p{margin:4px 0 0;color:#adb5bd}
main{padding:16px 32px 40px;max-width:1340px}h2{font-size:18px;margin:28px 0 10px}h3{font-size:15px;margin:0 0 8px}h4{font-size:13px;margin:12px 0 4px;color:#495057}
.sub{font-weight:400;color:#868e96;font-size:13px;margin-left:8px}.card{background:#fff;border-radius:8px;padding:14px 16px;margin:10px 0;box-shadow:0 1px 2px rgba(0,0,0,.08)}
.scroll{overflow-x:auto}.cols{display:flex;gap:16px;flex-wrap:wrap}.cols>div{flex:1 1 420px;min-width:0}.cols>.card{margin:10px 0}
.kpis{display:flex;gap:12px;flex-wrap:wrap;margin:10px 0}.kpi{background:#fff;border-radius:8px;padding:10px 14px;flex:1 1 150px;min-width:0;overflow-wrap:anywhere;box-shadow:0 1px 2px rgba(0,0,0,.08)}
.kpi span{display:block;color:#868e96;font-size:12px;text-transform:uppercase;letter-spacing:.04em}.kpi b{display:block;font-size:22px;margin:2px 0}.kpi small{color:#495057;font-size:12px}
.ok{color:#2e7d32}.warning{color:#ef6c00}.critical{color:#c62828}
.badge{font-size:12px;padding:2px 8px;border-radius:10px;color:#fff;margin-left:6px;vertical-align:middle}.badge.ok{background:#2e7d32}.badge.warning{background:#ef6c00}.badge.critical{background:#c62828}
svg.chart{display:block;max-width:100%;height:auto}svg.heat{max-width:none}svg .grid{stroke:#e9ecef}svg .axis{stroke:#adb5bd}svg .tick{font-size:11px;fill:#6c757d}svg .label{font-size:12px;fill:#343a40}svg .cellnum{font-size:10px}
.legend{font-size:12px;color:#495057;margin-top:6px;display:flex;flex-wrap:wrap;gap:4px 14px;align-items:center}.key i{display:inline-block;width:12px;height:12px;border-radius:2px;margin-right:5px;vertical-align:-2px}
.key i.dot{background:#212121;border-radius:50%;width:8px;height:8px;vertical-align:0}.key i.hatch{background:repeating-linear-gradient(45deg,#eee 0 3px,#bdbdbd 3px 5px)}.key i.frame{border:2.5px solid #1c7ed6;background:none}
.swatch{display:inline-block;width:22px;height:12px}table.stats{border-collapse:collapse;width:100%;font-size:13px}table.stats th,table.stats td{text-align:left;padding:3px 8px;border-bottom:1px solid #f1f3f5;overflow-wrap:anywhere}
table.stats thead th{color:#868e96;font-weight:600;font-size:12px;vertical-align:bottom}table.stats tbody th{font-weight:500;color:#495057;width:42%}.caption{color:#868e96;font-size:12px;margin:4px 0 0}
table.features tbody th{width:auto;max-width:260px}table.features th small{display:block;font-weight:400;font-size:11px;white-space:nowrap}table.features th,table.features td{white-space:nowrap}table.features .num{text-align:right;font-variant-numeric:tabular-nums}table.features td.warning,table.features td.critical{font-weight:600}
.empty{color:#868e96}.feature h3{display:flex;align-items:center;flex-wrap:wrap;overflow-wrap:anywhere}footer{color:#868e96;font-size:12px;padding:0 32px 24px}
"""  # noqa: E501 (a style sheet, minified: one line per group of rules)


def render(data: ReportData) -> str:
    """The whole page."""
    title = f"Drift report: {short(data.model_id, 100)}"
    stat_note = f"Heatmap statistic: {data.statistic}" + (
        f" (warning {num(data.threshold.warning)}, critical {num(data.threshold.critical)})"
        if data.threshold
        else ""
    )
    window = f"{duration(data.model.window_ms)} windows" + (
        f" sliding by {duration(data.model.slide_ms)}"
        if data.model.slide_ms != data.model.window_ms
        else ""
    )
    body = [
        (
            f"<header><h1>{esc(title)}</h1><p>{window} · {len(data.model.features)} features · "
            f"{esc(stat_note)} · generated {when(data.generated_ms)} UTC</p></header><main>"
        )
    ]
    if not data.versions:
        body.append(
            '<p class="empty card">No closed windows for this model (yet). Run '
            "<code>monitor run</code> or <code>monitor replay</code> first.</p>"
        )
    for v in data.versions:
        body.append(_summary(v))
        body.append(_over_time(data, v))
        if v.segments:
            body.append(_segments(data, v))
        body.append(_window(data, v) + "</section>")
    body.append(_performance(data))
    body.append(_alerts(data))
    body.append(
        "</main><footer>monitor report · every chart is inline SVG; hover a cell or point "
        "for its values.</footer>"
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>{''.join(body)}</body>"
        "</html>\n"
    )
