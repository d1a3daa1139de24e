"""Build the Grafana dashboards of ``monitor`` (``python dashboards/build.py``).

The JSON files in ``grafana/dashboards/`` are generated from this file and committed; the tests
check they are up to date, run every PromQL expression against a real Prometheus scraping a
running ``monitor``, and run the SQL panel against the store.

No datasource is named by uid: every panel and variable uses the datasource variables
``$datasource`` (type prometheus) and ``$database`` (the PostgreSQL store, for the window
history), so a dashboard imports into any Grafana as it is; Grafana offers the datasources of
that type. Every PromQL selector carries ``job="$job"`` (default ``monitor``, the job scraping
the service), so several deployments can share one Prometheus.

Drift thresholds: a statistic's panels colour and draw each statistic at its *default* warning
and critical levels (``monitor.stats.registry.DEFAULT_THRESHOLDS``), one field override per
statistic, because Grafana's thresholds are fixed numbers that cannot follow a variable or a
model's config. The monitor's verdict, with the configured thresholds, is the severity.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout
from monitor.stats.registry import DEFAULT_THRESHOLDS, STATISTICS

PROMETHEUS = {"type": "prometheus", "uid": "${datasource}"}
DATABASE = {"type": "grafana-postgresql-datasource", "uid": "${database}"}
OUT = Path(__file__).parent / "grafana" / "dashboards"

#: The metrics realized and estimated performance both have, on one 0..1 axis (never a count).
ESTIMABLE = 'metric=~"accuracy|precision|recall|f1|roc_auc"'

#: The model/version/feature selector of the drill-down (``job`` is added to every selector).
MV = 'model_id="$model", model_version="$version"'
MVF = MV + ', feature=~"$feature"'

SEVERITY_MAPPING = [
    {
        "type": "value",
        "options": {
            "0": {"text": "ok", "color": "green", "index": 0},
            "1": {"text": "warning", "color": "orange", "index": 1},
            "2": {"text": "critical", "color": "red", "index": 2},
        },
    }
]

THRESHOLDS_NOTE = (
    " Colours and dashed lines: the statistic's default warning and critical levels "
    + ", ".join(f"{s} {w}/{c}" for s, (w, c) in DEFAULT_THRESHOLDS.items())
    + "; p-values and chi-square have no default and stay blue. A model whose config sets its "
    "own thresholds is judged by those: the severity panels show the monitor's verdict."
)


ALERTS_FIRING = (
    "Alerts of the config's rules (models.*.rules) firing now, over all models; set at every "
    "checkpoint by the alert evaluator. Prometheus's own rules are in Alertmanager."
)
REALIZED = (
    "Latest realized performance of each model version: predictions joined with their labels "
    "(topics.labels; none without a labels topic). Metrics only (accuracy, f1, roc_auc, mae, "
    "...), never counts."
)
COVERAGE = (
    "Share of the latest performance window's predictions that have a label; labels come later, "
    "so a recent window fills in over time."
)
PENDING_LABELS = "Predictions waiting for their label (kept until labels.horizon)."


class Layout:
    """Places panels left to right on Grafana's 24-column grid and numbers them."""

    def __init__(self) -> None:
        self.x = self.y = self.row_h = 0
        self.next_id = 1
        self.panels: list[dict[str, Any]] = []

    def add(self, panel: dict[str, Any], w: int, h: int) -> None:
        if self.x + w > 24:
            self.x, self.y, self.row_h = 0, self.y + self.row_h, 0
        panel["id"] = self.next_id
        panel["gridPos"] = {"h": h, "w": w, "x": self.x, "y": self.y}
        self.next_id += 1
        self.x += w
        self.row_h = max(self.row_h, h)
        self.panels.append(panel)

    def row(self, title: str) -> None:
        if self.x:
            self.x, self.y, self.row_h = 0, self.y + self.row_h, 0
        self.add({"type": "row", "title": title, "collapsed": False, "panels": []}, 24, 1)
        self.x, self.y, self.row_h = 0, self.y + 1, 0


#: A metric name in PromQL, with its label matchers if any (not a function call, not a label).
_SELECTOR = re.compile(r"\b((?:monitor|process)_\w+)(\{[^}]*\})?(?![\w(])")


def with_job(expr: str) -> str:
    """Every selector of ``expr`` restricted to ``job="$job"``.

    >>> with_job('sum(rate(monitor_x_total{a="b"}[5m])) / sum(monitor_y)')
    'sum(rate(monitor_x_total{job="$job", a="b"}[5m])) / sum(monitor_y{job="$job"})'
    """

    def add(m: re.Match[str]) -> str:
        inner = (m.group(2) or "{}")[1:-1]
        return m.group(1) + "{" + ", ".join(['job="$job"'] + ([inner] if inner else [])) + "}"

    return _SELECTOR.sub(add, expr)


def prom(expr: str, legend: str = "", ref: str = "A", instant: bool = False) -> dict[str, Any]:
    target: dict[str, Any] = {
        "refId": ref,
        "datasource": PROMETHEUS,
        "expr": with_job(expr),
        "legendFormat": legend or "__auto",
    }
    if instant:
        target |= {"instant": True, "range": False, "format": "table"}
    else:
        target |= {"range": True}
    return target


def panel(
    kind: str,
    title: str,
    targets: list[dict[str, Any]],
    description: str = "",
    unit: str = "short",
    **extra: Any,
) -> dict[str, Any]:
    p: dict[str, Any] = {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": targets[0]["datasource"],
        "targets": targets,
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {},
    }
    for key, value in extra.items():
        if key == "defaults":
            p["fieldConfig"]["defaults"].update(value)
        elif key == "overrides":
            p["fieldConfig"]["overrides"] = value
        else:
            p[key] = value
    if kind == "timeseries":
        p["options"] = {
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
            "tooltip": {"mode": "multi", "sort": "desc"},
        }
        p["fieldConfig"]["defaults"].setdefault(
            "custom", {"lineWidth": 1, "fillOpacity": 10, "showPoints": "never"}
        )
    elif kind in ("stat", "bargauge", "gauge"):
        p["options"] = {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "background" if kind == "stat" else "value",
            "graphMode": "none",
            "textMode": "auto",
            "orientation": "horizontal",
        }
    elif kind == "table":
        p["options"] = {
            "showHeader": True,
            "cellHeight": "sm",
            "footer": {"show": False, "reducer": ["sum"], "fields": ""},
        }
    elif kind == "state-timeline":
        p["options"] = {
            "showValue": "never",
            "mergeValues": True,
            "rowHeight": 0.8,
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
        }
    return p


def thresholds(*steps: tuple[float | None, str]) -> dict[str, Any]:
    return {
        "thresholds": {"mode": "absolute", "steps": [{"value": v, "color": c} for v, c in steps]}
    }


def variable(
    name: str,
    label: str,
    query: str,
    *,
    multi: bool = False,
    default: str | None = None,
    scoped: bool = True,
) -> dict[str, Any]:
    'A query variable; its selector gets ``job="$job"`` like the panels\' (unless not ``scoped``).'
    query = with_job(query) if scoped else query
    current: dict[str, Any] = {}
    if multi:
        current = {"selected": True, "text": ["All"], "value": ["$__all"]}
    elif default is not None:
        current = {"selected": True, "text": default, "value": default}
    return {
        "type": "query",
        "name": name,
        "label": label,
        "datasource": PROMETHEUS,
        "definition": query,
        "query": {"query": query, "refId": f"{name}-var", "qryType": 1},
        "refresh": 2,  # on time range change
        "sort": 1,
        "multi": multi,
        "includeAll": multi,
        "current": current,
        "options": [],
        "hide": 0,
    }


def datasource_variable(name: str, label: str, plugin: str) -> dict[str, Any]:
    """Pick a datasource of type ``plugin`` (Grafana preselects the default one of that type)."""
    return {
        "type": "datasource",
        "name": name,
        "label": label,
        "query": plugin,
        "regex": "",
        "current": {},
        "options": [],
        "refresh": 1,
        "hide": 0,
        "multi": False,
        "includeAll": False,
    }


def common_variables() -> list[dict[str, Any]]:
    """The datasource and the Prometheus job of the monitor processes, first on every dashboard."""
    job = variable(
        "job", "Job", "label_values(monitor_ready, job)", default="monitor", scoped=False
    )
    return [datasource_variable("datasource", "Prometheus", PROMETHEUS["type"]), job]


def per_statistic(timeseries: bool) -> list[dict[str, Any]]:
    """One override per statistic, matched by the series name "<feature> (<statistic>)": the
    statistic's default warning and critical levels, or none (blue) when it has no default."""
    out = []
    for name in STATISTICS:
        if name in DEFAULT_THRESHOLDS:
            warning, critical = DEFAULT_THRESHOLDS[name]
            steps = thresholds((None, "green"), (warning, "orange"), (critical, "red"))
        else:
            steps = thresholds((None, "blue"))
        props = [{"id": "thresholds", "value": steps["thresholds"]}]
        if timeseries and name in DEFAULT_THRESHOLDS:
            props.append({"id": "custom.thresholdsStyle", "value": {"mode": "dashed"}})
        out.append(
            {"matcher": {"id": "byRegexp", "options": f" \\({name}\\)$"}, "properties": props}
        )
    return out


def dashboard(
    uid: str,
    title: str,
    description: str,
    layout: Layout,
    variables: list[dict[str, Any]] | None = None,
    time_from: str = "now-6h",
) -> dict[str, Any]:
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["monitor"],
        "timezone": "utc",
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": time_from, "to": "now"},
        "timepicker": {},
        "fiscalYearStartMonth": 0,
        "liveNow": False,
        "weekStart": "",
        "annotations": {
            "list": [
                {
                    "builtIn": 1,
                    "type": "dashboard",
                    "name": "Annotations & Alerts",
                    "enable": True,
                    "hide": True,
                    "iconColor": "rgba(0, 211, 255, 1)",
                    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                }
            ]
        },
        "links": [
            {
                "type": "dashboards",
                "tags": ["monitor"],
                "asDropdown": True,
                "title": "monitor",
                "includeVars": True,
                "keepTime": True,
            }
        ],
        "templating": {"list": common_variables() + (variables or [])},
        "panels": layout.panels,
    }


# -- overview ------------------------------------------------------------------------------------
def overview() -> dict[str, Any]:
    L = Layout()
    drill = [
        {
            "title": "Drill down",
            "url": (
                "/d/monitor-model/monitor-model-drill-down?var-model=${__data.fields.model_id}"
                "&var-version=${__data.fields.model_version}&${job:queryparam}"
                "&${datasource:queryparam}&${__url_time_range}"
            ),
        }
    ]
    L.add(
        panel(
            "stat",
            "Models monitored",
            [prom("count(count by (model_id) (monitor_window_events))")],
            "Models with at least one closed window.",
            defaults=thresholds((None, "blue")),
        ),
        4,
        4,
    )
    L.add(
        panel(
            "stat",
            "Model versions with drift",
            [prom("count(monitor_dataset_drift_share > 0) or vector(0)")],
            "Model versions whose latest window has at least one drifted feature.",
            defaults=thresholds((None, "green"), (1, "orange")),
        ),
        4,
        4,
    )
    L.add(
        panel(
            "stat",
            "Features critical",
            [prom("count(monitor_drift_severity == 2) or vector(0)")],
            "Features (over all models) whose latest window is critical.",
            defaults=thresholds((None, "green"), (1, "red")),
        ),
        4,
        4,
    )
    L.add(
        panel(
            "stat",
            "Alerts firing",
            [prom("sum(monitor_alerts_firing)")],
            ALERTS_FIRING,
            defaults=thresholds((None, "green"), (1, "red")),
        ),
        4,
        4,
    )
    L.add(
        panel(
            "stat",
            "Processes ready",
            [prom("sum(monitor_ready)")],
            (
                "Processes of the consumer group that report ready (partitions assigned, "
                "database reachable, not lagging)."
            ),
            defaults=thresholds((None, "red"), (1, "green")),
        ),
        4,
        4,
    )
    L.add(
        panel(
            "stat",
            "Events/s",
            [prom("sum(rate(monitor_events_consumed_total[$__rate_interval]))")],
            "Messages consumed per second, all topics.",
            unit="ops",
            defaults=thresholds((None, "blue")),
        ),
        4,
        4,
    )

    L.add(
        panel(
            "table",
            "Models",
            [
                prom(
                    "max by (model_id, model_version) (monitor_dataset_drift_share)",
                    ref="A",
                    instant=True,
                ),
                prom(
                    "count by (model_id, model_version) (monitor_drift_severity >= 1)",
                    ref="B",
                    instant=True,
                ),
                prom(
                    "max by (model_id, model_version) (monitor_window_events)",
                    ref="C",
                    instant=True,
                ),
                prom(
                    (
                        "max by (model_id, model_version) "
                        "(monitor_window_end_timestamp_seconds) * 1000"
                    ),
                    ref="D",
                    instant=True,
                ),
            ],
            "Latest closed window of every model version. Click a model to drill down.",
            transformations=[
                {"id": "merge", "options": {}},
                {
                    "id": "organize",
                    "options": {
                        "excludeByName": {"Time": True},
                        "renameByName": {
                            "Value #A": "drift share",
                            "Value #B": "features drifting",
                            "Value #C": "events (last window)",
                            "Value #D": "last window end",
                            "model_id": "model_id",
                            "model_version": "model_version",
                        },
                    },
                },
            ],
            defaults={"links": drill},
        ),
        24,
        8,
    )
    models = L.panels[-1]
    models["fieldConfig"]["overrides"] = [
        {
            "matcher": {"id": "byName", "options": "drift share"},
            "properties": [
                {"id": "unit", "value": "percentunit"},
                {"id": "custom.cellOptions", "value": {"type": "color-background"}},
                {
                    "id": "thresholds",
                    "value": thresholds((None, "green"), (0.1, "orange"), (0.3, "red"))[
                        "thresholds"
                    ],
                },
            ],
        },
        {
            "matcher": {"id": "byName", "options": "last window end"},
            "properties": [{"id": "unit", "value": "dateTimeAsIso"}],
        },
    ]

    L.add(
        panel(
            "timeseries",
            "Dataset drift share",
            [prom("monitor_dataset_drift_share", "{{model_id}} {{model_version}}")],
            "Share of a model version's features that drifted in its latest window.",
            unit="percentunit",
            defaults={"min": 0, "max": 1},
        ),
        12,
        8,
    )
    L.add(
        panel(
            "timeseries",
            "Critical features per model",
            [
                prom(
                    "count by (model_id, model_version) (monitor_drift_severity == 2)",
                    "{{model_id}} {{model_version}}",
                )
            ],
            "How many features of each model version are critical, over time.",
        ),
        12,
        8,
    )
    L.add(
        panel(
            "table",
            "Drifting features",
            [
                prom(
                    "max by (model_id, model_version, feature) (monitor_drift_severity) >= 1",
                    instant=True,
                )
            ],
            "Features whose latest window is warning (1) or critical (2).",
            transformations=[
                {
                    "id": "organize",
                    "options": {
                        "excludeByName": {"Time": True},
                        "renameByName": {"Value": "severity"},
                    },
                }
            ],
            defaults={"mappings": SEVERITY_MAPPING, "links": drill},
        ),
        12,
        8,
    )
    L.add(
        panel(
            "timeseries",
            "Realized performance",
            [prom("monitor_model_performance", "{{model_id}} {{model_version}} {{metric}}")],
            REALIZED,
        ),
        12,
        8,
    )
    L.add(
        panel(
            "bargauge",
            "Label coverage",
            [prom("monitor_label_coverage_ratio", "{{model_id}} {{model_version}}")],
            COVERAGE + " Red below 0.5 (the MonitorLabelCoverageLow rule), green from 0.9.",
            unit="percentunit",
            defaults={
                "min": 0,
                "max": 1,
                **thresholds((None, "red"), (0.5, "orange"), (0.9, "green")),
            },
        ),
        12,
        8,
    )
    L.add(
        panel(
            "timeseries",
            "Alerts firing by model",
            [
                prom(
                    "sum by (model_id, severity) (monitor_alerts_firing)",
                    "{{model_id}} {{severity}}",
                )
            ],
            "Rules of the config firing, per model and severity, over time.",
        ),
        12,
        8,
    )
    return dashboard(
        "monitor-overview",
        "monitor / overview",
        "Every monitored model at a glance: drift, performance, labels, alerts.",
        L,
    )


# -- model drill-down ----------------------------------------------------------------------------
def model() -> dict[str, Any]:
    L = Layout()
    L.row("Drift")
    L.add(
        panel(
            "stat",
            "Dataset drift share",
            [prom(f"monitor_dataset_drift_share{{{MV}}}")],
            "Share of features drifted in the latest window.",
            unit="percentunit",
            defaults=thresholds((None, "green"), (0.1, "orange"), (0.3, "red")),
        ),
        6,
        5,
    )
    L.add(
        panel(
            "stat",
            "Features drifting",
            [prom(f"count(monitor_drift_severity{{{MV}}} >= 1) or vector(0)")],
            "Features warning or critical in the latest window.",
            defaults=thresholds((None, "green"), (1, "orange")),
        ),
        6,
        5,
    )
    L.add(
        panel(
            "stat",
            "Events in the last window",
            [prom(f"monitor_window_events{{{MV}}}")],
            "",
            defaults=thresholds((None, "blue")),
        ),
        6,
        5,
    )
    L.add(
        panel(
            "stat",
            "Last window end",
            [prom(f"monitor_window_end_timestamp_seconds{{{MV}}} * 1000")],
            "Event time at which the latest closed window ended.",
            unit="dateTimeFromNow",
            defaults=thresholds((None, "blue")),
        ),
        6,
        5,
    )
    L.add(
        panel(
            "timeseries",
            "Drift over time ($statistic)",
            [
                prom(
                    f'monitor_drift_statistic{{{MVF}, statistic="$statistic"}}',
                    "{{feature}} ({{statistic}})",
                )
            ],
            "The chosen statistic of each feature's latest window, over time." + THRESHOLDS_NOTE,
            defaults=thresholds((None, "blue")),
            overrides=per_statistic(timeseries=True),
        ),
        12,
        9,
    )
    L.add(
        panel(
            "state-timeline",
            "Severity per feature",
            [prom(f"monitor_drift_severity{{{MVF}}}", "{{feature}}")],
            "0 ok, 1 warning, 2 critical (drift or data quality).",
            defaults={
                "mappings": SEVERITY_MAPPING,
                **thresholds((None, "green"), (1, "orange"), (2, "red")),
            },
        ),
        12,
        9,
    )
    L.add(
        panel(
            "bargauge",
            "Reference vs current: distance per feature",
            [
                prom(
                    f'monitor_drift_statistic{{{MVF}, statistic="$statistic"}}',
                    "{{feature}} ({{statistic}})",
                    instant=True,
                )
            ],
            (
                "How far each feature's latest window is from its reference, by the chosen "
                "statistic (p-values: lower is further). The distributions themselves "
                "(reference bins, window range) are in the HTML report: monitor report."
            )
            + THRESHOLDS_NOTE,
            defaults=thresholds((None, "blue")),
            overrides=per_statistic(timeseries=False),
        ),
        12,
        9,
    )
    L.add(
        panel(
            "table",
            "All statistics (latest window)",
            [prom(f"monitor_drift_statistic{{{MVF}}}", instant=True)],
            "Every statistic of every feature in the latest window.",
            transformations=[
                {
                    "id": "groupingToMatrix",
                    "options": {
                        "columnField": "statistic",
                        "rowField": "feature",
                        "valueField": "Value",
                    },
                }
            ],
            defaults={"decimals": 4},
        ),
        12,
        9,
    )
    L.row("Data quality")
    L.add(
        panel(
            "timeseries",
            "Missing values",
            [prom(f"monitor_feature_missing_ratio{{{MVF}}}", "{{feature}}")],
            "Share of events missing the feature.",
            unit="percentunit",
        ),
        8,
        8,
    )
    L.add(
        panel(
            "timeseries",
            "Out of reference range",
            [prom(f"monitor_feature_out_of_range_ratio{{{MVF}}}", "{{feature}}")],
            "Share of a numeric feature's values outside the reference's range.",
            unit="percentunit",
        ),
        8,
        8,
    )
    L.add(
        panel(
            "timeseries",
            "Unseen categories",
            [prom(f"monitor_feature_unseen_ratio{{{MVF}}}", "{{feature}}")],
            "Share of a categorical feature's values not in the reference vocabulary.",
            unit="percentunit",
        ),
        8,
        8,
    )
    L.row("Segments")
    L.add(
        panel(
            "timeseries",
            "Dataset drift share per segment",
            [prom(f"monitor_segment_drift_share{{{MV}}}", "{{segment}}")],
            (
                "Share of features drifted in each segment's latest window (segments.keys: the "
                "reference's top K values of a key, the rest as other; docs/segments.md)."
            ),
            unit="percentunit",
            defaults={"min": 0, "max": 1},
        ),
        12,
        8,
    )
    L.add(
        panel(
            "state-timeline",
            "Severity per segment and feature",
            [prom(f"monitor_segment_drift_severity{{{MVF}}} > 0", "{{segment}} {{feature}}")],
            (
                "Segments and features warning (1) or critical (2) in their latest window: a "
                "drift confined to one segment shows here before the whole model's numbers "
                "move."
            ),
            defaults={
                "mappings": SEVERITY_MAPPING,
                **thresholds((None, "green"), (1, "orange"), (2, "red")),
            },
        ),
        12,
        8,
    )
    L.row("Performance and labels")
    L.add(
        panel(
            "timeseries",
            "Performance: realized vs estimated",
            [
                prom(f"monitor_model_performance{{{MV}, {ESTIMABLE}}}", "{{metric}} realized", "A"),
                prom(
                    f"monitor_model_performance_estimated{{{MV}, {ESTIMABLE}}}",
                    "{{metric}} estimated",
                    "B",
                ),
            ],
            (
                "Realized (labels joined) and estimated (from the scores, before labels arrive) "
                "performance of the latest performance window, for the metrics both have. A "
                "lasting gap is concept drift or a miscalibrated estimator (the "
                "MonitorPerformanceEstimateDiverges rule)."
            ),
            unit="percentunit",
            defaults={"min": 0, "max": 1},
        ),
        12,
        8,
    )
    L.add(
        panel(
            "timeseries",
            "Label coverage",
            [prom(f"monitor_label_coverage_ratio{{{MV}}}", "coverage")],
            COVERAGE,
            unit="percentunit",
            defaults={"min": 0, "max": 1},
        ),
        6,
        8,
    )
    L.add(
        panel(
            "timeseries",
            "Pending labels",
            [prom('monitor_pending_labels{model_id="$model"}', "pending")],
            PENDING_LABELS + " All versions of the model.",
        ),
        6,
        8,
    )
    L.add(
        panel(
            "timeseries",
            "Performance counts: predictions, labeled, after the horizon",
            [
                prom(f"monitor_performance_predictions{{{MV}}}", "predictions", "A"),
                prom(f"monitor_performance_labeled_predictions{{{MV}}}", "labeled", "B"),
                prom(
                    'increase(monitor_labels_after_horizon_total{model_id="$model"}[$__rate_interval])',
                    "labels after the horizon",
                    "C",
                ),
            ],
            (
                "Predictions in the latest performance window; of them, labeled (the n of "
                "realized performance); and labels that came after their prediction's time + "
                "labels.horizon, counted but not joined."
            ),
        ),
        24,
        8,
    )
    L.row("Alerts and history")
    L.add(
        panel(
            "state-timeline",
            "Alerts",
            [prom(f"monitor_alerts_firing{{{MV}}}", "{{rule}} ({{severity}})")],
            (
                "Each rule's alert for this model version: firing (1) or not (0), set at every "
                "checkpoint by the alert evaluator."
            ),
            defaults={
                "mappings": [
                    {
                        "type": "value",
                        "options": {
                            "0": {"text": "ok", "color": "green"},
                            "1": {"text": "firing", "color": "red"},
                        },
                    }
                ]
            },
        ),
        24,
        6,
    )
    sql = (
        'SELECT window_end / 1000 AS "time", feature, severity, "count", missing,\n'
        "       CAST(statistics ->> 'psi' AS DOUBLE PRECISION) AS psi,\n"
        "       CAST(statistics ->> 'ks' AS DOUBLE PRECISION) AS ks,\n"
        "       CAST(statistics ->> 'js' AS DOUBLE PRECISION) AS js,\n"
        "       CAST(quality ->> 'missing_rate' AS DOUBLE PRECISION) AS missing_rate\n"
        "FROM windows\n"
        "WHERE model_id = '$model' AND model_version = '$version' AND segment = ''\n"
        "  AND feature IN ($feature)\n"
        "  AND window_end >= $__unixEpochFrom() * 1000 AND window_end <= $__unixEpochTo() * 1000\n"
        "ORDER BY window_end DESC, feature\n"
        "LIMIT 1000"
    )
    L.add(
        panel(
            "table",
            "Window history (SQL)",
            [
                {
                    "refId": "A",
                    "datasource": DATABASE,
                    "rawSql": sql,
                    "format": "table",
                    "rawQuery": True,
                    "editorMode": "code",
                }
            ],
            (
                "Every persisted window of the selected features, from the monitor database "
                "(windows table)."
            ),
            defaults={"decimals": 4},
        ),
        24,
        10,
    )
    hist = L.panels[-1]
    hist["fieldConfig"]["overrides"] = [
        {
            "matcher": {"id": "byName", "options": "time"},
            "properties": [{"id": "unit", "value": "dateTimeAsIso"}],
        }
    ]
    variables = [
        datasource_variable("database", "Database", DATABASE["type"]),
        variable("model", "Model", "label_values(monitor_window_events, model_id)"),
        variable(
            "version",
            "Version",
            'label_values(monitor_window_events{model_id="$model"}, model_version)',
        ),
        variable(
            "feature",
            "Feature",
            f"label_values(monitor_drift_severity{{{MV}}}, feature)",
            multi=True,
        ),
        variable(
            "statistic",
            "Statistic",
            'label_values(monitor_drift_statistic{model_id="$model"}, statistic)',
        ),
    ]
    return dashboard(
        "monitor-model",
        "monitor / model drill-down",
        (
            "One model version: drift over time, reference vs current, data quality, "
            "performance, labels, alerts, window history. Drift panels colour each statistic at "
            "its default thresholds (psi, ks, js, wasserstein; p-values and chi-square have "
            "none); the severity panels carry the monitor's own verdict, with the thresholds "
            "the model's config sets."
        ),
        L,
        variables,
    )


# -- pipeline health -----------------------------------------------------------------------------
def pipeline() -> dict[str, Any]:
    L = Layout()
    quantile = "histogram_quantile({q}, sum by (le) (rate({m}_bucket[$__rate_interval])))"
    L.add(
        panel(
            "stat",
            "Processes ready",
            [prom("sum(monitor_ready)")],
            "",
            defaults=thresholds((None, "red"), (1, "green")),
        ),
        6,
        4,
    )
    L.add(
        panel(
            "stat",
            "Partitions assigned",
            [prom("sum(monitor_assigned_partitions)")],
            "Over all processes of the group.",
            defaults=thresholds((None, "red"), (1, "blue")),
        ),
        6,
        4,
    )
    L.add(
        panel(
            "stat",
            "Total lag",
            [prom("sum(monitor_consumer_lag_events)")],
            "Messages not yet processed, all partitions.",
            defaults=thresholds((None, "green"), (10000, "orange"), (100000, "red")),
        ),
        6,
        4,
    )
    L.add(
        panel(
            "stat",
            "Checkpoint failures (1h)",
            [prom("sum(increase(monitor_checkpoint_failures_total[1h]))")],
            "Checkpoints that failed because the database was away.",
            defaults=thresholds((None, "green"), (1, "red")),
        ),
        6,
        4,
    )
    L.add(
        panel(
            "timeseries",
            "Throughput",
            [
                prom(
                    "sum by (topic) (rate(monitor_events_consumed_total[$__rate_interval]))",
                    "{{topic}}",
                )
            ],
            "Messages consumed per second, by topic.",
            unit="ops",
        ),
        12,
        8,
    )
    L.add(
        panel(
            "timeseries",
            "Consumer lag per partition",
            [
                prom(
                    "max by (topic, partition) (monitor_consumer_lag_events)",
                    "{{topic}}:{{partition}}",
                )
            ],
            (
                "Messages between the processed position and the partition's end (librdkafka's "
                "cached high watermark)."
            ),
        ),
        12,
        8,
    )
    L.add(
        panel(
            "timeseries",
            "Invalid events by reason",
            [
                prom(
                    "sum by (reason) (rate(monitor_events_invalid_total[$__rate_interval]))",
                    "{{reason}}",
                )
            ],
            "Rejected events per second (each also goes to the dead-letter topic).",
            unit="ops",
        ),
        8,
        8,
    )
    L.add(
        panel(
            "timeseries",
            "Dead letters",
            [
                prom(
                    "sum by (reason) (rate(monitor_dead_letters_total[$__rate_interval]))",
                    "{{reason}}",
                )
            ],
            "Messages written to the dead-letter topic per second.",
            unit="ops",
        ),
        8,
        8,
    )
    L.add(
        panel(
            "timeseries",
            "Late events",
            [
                prom(
                    "sum by (model_id) (rate(monitor_events_late_total[$__rate_interval]))",
                    "{{model_id}}",
                )
            ],
            "Events later than their window's allowed lateness (counted, not sketched).",
            unit="ops",
        ),
        8,
        8,
    )
    L.add(
        panel(
            "timeseries",
            "Checkpoint latency",
            [
                prom(quantile.format(q=0.5, m="monitor_checkpoint_duration_seconds"), "p50", "A"),
                prom(quantile.format(q=0.99, m="monitor_checkpoint_duration_seconds"), "p99", "B"),
            ],
            "Time of the checkpoint transaction (window state and positions).",
            unit="s",
        ),
        12,
        8,
    )
    L.add(
        panel(
            "timeseries",
            "Window close latency",
            [
                prom(quantile.format(q=0.5, m="monitor_window_close_duration_seconds"), "p50", "A"),
                prom(
                    quantile.format(q=0.99, m="monitor_window_close_duration_seconds"), "p99", "B"
                ),
            ],
            "Time to evaluate one closed window: statistics, severities and segments.",
            unit="s",
        ),
        12,
        8,
    )
    L.add(
        panel(
            "timeseries",
            "Windows closed",
            [
                prom(
                    "sum by (model_id) (rate(monitor_windows_closed_total[$__rate_interval]))",
                    "{{model_id}}",
                )
            ],
            "Windows closed and persisted per second.",
            unit="ops",
        ),
        8,
        8,
    )
    L.add(
        panel(
            "timeseries",
            "Notifications by sink and outcome",
            [
                prom(
                    "sum by (sink, outcome) (rate(monitor_notifications_total[$__rate_interval]))",
                    "{{sink}} {{outcome}}",
                )
            ],
            (
                "Deliveries of the outbox dispatcher per second: sent, retry (will be retried "
                "with backoff) or failed (gave up)."
            ),
            unit="ops",
        ),
        8,
        8,
    )
    L.add(
        panel(
            "timeseries",
            "Pending labels",
            [prom("sum by (model_id) (monitor_pending_labels)", "{{model_id}}")],
            PENDING_LABELS + " Over all processes.",
        ),
        8,
        8,
    )
    L.add(
        panel(
            "timeseries",
            "CPU",
            [prom("rate(process_cpu_seconds_total[$__rate_interval])", "{{instance}}")],
            "CPU seconds per second of each monitor process.",
            unit="percentunit",
        ),
        12,
        7,
    )
    L.add(
        panel(
            "timeseries",
            "Memory",
            [prom("process_resident_memory_bytes", "{{instance}}")],
            "Resident memory of each monitor process.",
            unit="bytes",
        ),
        12,
        7,
    )
    return dashboard(
        "monitor-pipeline",
        "monitor / pipeline health",
        "The consumer group: throughput, lag, invalid and late events, checkpoints, notifications.",
        L,
        time_from="now-1h",
    )


DASHBOARDS = {"monitor-overview": overview, "monitor-model": model, "monitor-pipeline": pipeline}


def render(name: str) -> str:
    return json.dumps(DASHBOARDS[name](), indent=2, sort_keys=False) + "\n"


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    for name in DASHBOARDS:
        (OUT / f"{name}.json").write_text(render(name))
        print(f"wrote {OUT / name}.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
