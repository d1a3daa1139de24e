"""``monitor report``: one self-contained HTML page about one model, readable without Grafana.

The page holds inline SVG and CSS only (no script, no network): it can be mailed, attached to a
ticket or opened from disk. What it shows, from the store, per model version:

1. a summary (windows, drifted windows, features that drifted, latest severity);
2. drift per feature over time: a heatmap of one statistic (PSI by default) per feature and
   window, coloured against the statistic's warning and critical thresholds, and the dataset
   drift share and events per window, with time ticks on window boundaries;
3. with segments, a segments x features heatmap (each segment's worst window per feature) and
   what drifted in each segment only;
4. the worst window (highest severity, then the value furthest past its threshold), not the
   latest (often partial) one: a table of every feature (statistics coloured by their verdicts,
   thresholds, severity, what decided it) and reference vs current for the features not ok,
   numeric bins drawn with their true widths;
5. performance realized vs estimated, and the alert timeline, when the store has them.

Modules: :mod:`~monitor.report.data` reads the store, :mod:`~monitor.report.charts` and
:mod:`~monitor.report.heat` draw, :mod:`~monitor.report.features` details one window and
:mod:`~monitor.report.page` lays the page out. Text from events is escaped everywhere
(:func:`~monitor.report.fmt.esc`).

>>> from monitor.config import parse_config
>>> from monitor.store import Store
>>> cfg = parse_config({"models": {"m": {"features": {"x": {"kind": "numeric"}}}}})
>>> store = Store("sqlite://"); store.upgrade()
>>> page = render(collect(cfg, store, "m"))
>>> page.startswith("<!DOCTYPE html>") and "No closed windows" in page
True
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from monitor.config import Config
from monitor.report.data import NoSuchWindow, ReportData, collect
from monitor.report.page import render
from monitor.store import Store

__all__ = ["NoSuchWindow", "ReportData", "collect", "render", "write_report"]


def write_report(
    config: Config, store: Store, model_id: str, out: Path, **options: Any
) -> ReportData:
    """Write the page about ``model_id`` to ``out``; ``options`` go to :func:`collect`."""
    data = collect(config, store, model_id, **options)
    out.write_text(render(data), encoding="utf-8")
    return data
