"""The Grafana dashboards: well-formed JSON checks, and every query run for real.

The live test starts ``monitor run`` (a child process, JSON logs) on the embedded Tansu broker,
feeds it a stream with drift, invalid and late events, starts Prometheus scraping it every
second, and then runs every PromQL expression of every dashboard through Prometheus's HTTP API,
with the dashboard variables resolved the way Grafana resolves them (``label_values``).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import subprocess
import urllib.error
import urllib.request

import pytest
import yaml
from sqlalchemy import text

from monitor.config import load_config
from monitor.kafka.broker import free_port
from monitor.kafka.topics import client_config, create_topics
from tests.kafka.kit import MONITOR, prepare_store, produce, stream, wait_for, write_config
from tests.ops.conftest import DASHBOARDS
from tests.ops.grafana import (
    BUILTINS,
    GRAFANA,
    dashboards,
    label_values,
    panels,
    provisioned_uids,
    queries,
    substitute,
)

#: Panels whose metrics no code updates yet: their queries are checked for validity only (the
#: expression parses and runs), not for data. Each says so in its description ("Pending: ...").
#: Remove an entry when its metric gets filled.
PENDING = {
    ("monitor-overview", "Alerts firing"): "monitor_alerts_firing: the alert engine",
    (
        "monitor-overview",
        "Realized performance",
    ): "monitor_model_performance: label join and performance",
    ("monitor-overview", "Label coverage"): "monitor_label_coverage_ratio: label join",
    ("monitor-overview", "Alerts firing by model"): "monitor_alerts_firing: the alert engine",
    (
        "monitor-model",
        "Performance: realized vs estimated",
    ): "monitor_model_performance{,_estimated}: performance",
    (
        "monitor-model",
        "Performance counts: predictions, labeled, after the horizon",
    ): "monitor_performance_*: performance",
    ("monitor-model", "Label coverage"): "monitor_label_coverage_ratio: label join",
    ("monitor-model", "Pending labels"): "monitor_pending_labels: label join",
    ("monitor-model", "Alerts"): "monitor_alerts_firing: the alert engine",
    (
        "monitor-pipeline",
        "Window close latency",
    ): "monitor_window_close_duration_seconds: ClosedWindow.close_seconds",
    (
        "monitor-pipeline",
        "Notifications by sink and outcome",
    ): "monitor_notifications_total: the outbox dispatcher",
    ("monitor-pipeline", "Pending labels"): "monitor_pending_labels: label join",
}

#: Values preferred when a variable resolves to several (the drifted feature, PSI).
PREFERRED = {"model": "demo", "version": "v1", "feature": "num_01", "statistic": "psi"}


# -- the JSON
# ---------------------------------------------------------------------------------------
def test_dashboard_json_is_what_build_py_writes():
    spec = importlib.util.spec_from_file_location("build_dashboards", DASHBOARDS / "build.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    on_disk = dashboards()
    assert (
        set(on_disk)
        == set(build.DASHBOARDS)
        == {"monitor-overview", "monitor-model", "monitor-pipeline"}
    )
    for name in build.DASHBOARDS:
        assert (GRAFANA / "dashboards" / f"{name}.json").read_text() == build.render(name), (
            f"run: python dashboards/build.py ({name} is stale)"
        )


@pytest.mark.parametrize("name", ["monitor-overview", "monitor-model", "monitor-pipeline"])
def test_panels_have_unique_ids_a_place_and_a_query(name):
    board = dashboards()[name]
    assert board["uid"] == name
    ids = [p["id"] for p in panels(board)]
    assert len(ids) == len(set(ids)), f"duplicate panel ids in {name}: {sorted(ids)}"
    cells: set[tuple[int, int]] = set()
    for p in panels(board):
        g = p["gridPos"]
        assert 0 <= g["x"] and g["x"] + g["w"] <= 24 and g["h"] > 0, (p["title"], g)
        mine = {
            (x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])
        }
        assert not mine & cells, f"{name}: panel {p['title']!r} overlaps another"
        cells |= mine
        if p["type"] != "row":
            assert p["targets"] and all(t.get("expr") or t.get("rawSql") for t in p["targets"]), p[
                "title"
            ]
            assert len({t["refId"] for t in p["targets"]}) == len(p["targets"]), p["title"]


def test_datasource_uids_match_the_provisioning():
    uids = provisioned_uids()
    assert uids == {"prometheus": "prometheus", "monitor-db": "grafana-postgresql-datasource"}
    for name, board in dashboards().items():
        refs = [v["datasource"] for v in board["templating"]["list"]]
        for p in panels(board):
            if p["type"] != "row":
                refs += [p["datasource"]] + [t["datasource"] for t in p["targets"]]
        for ref in refs:
            assert ref["uid"] in uids and ref["type"] == uids[ref["uid"]], (
                f"{name}: {ref} is not provisioned"
            )


def test_dashboard_provider_path_is_where_compose_mounts_the_dashboards():
    provider = yaml.safe_load(
        (GRAFANA / "provisioning" / "dashboards" / "monitor.yaml").read_text()
    )["providers"][0]
    compose = yaml.safe_load((DASHBOARDS.parent / "docker" / "compose.yaml").read_text())
    mounts = compose["services"]["grafana"]["volumes"]
    assert f"../dashboards/grafana/dashboards:{provider['options']['path']}:ro" in mounts
    assert "../dashboards/grafana/provisioning:/etc/grafana/provisioning:ro" in mounts


def test_variables_are_defined_before_use():
    for name, board in dashboards().items():
        defined: list[str] = []
        for var in board["templating"]["list"]:
            selector, _ = label_values(var["query"]["query"])
            used = set(re.findall(r"\$(\w+)", selector or ""))
            assert used <= set(defined), (
                f"{name}: variable {var['name']} uses {used - set(defined)} before they are defined"
            )
            defined.append(var["name"])
        for q in queries(name, board):
            used = (
                set(re.findall(r"\$\{?(\w+)", q.text))
                - set(BUILTINS)
                - {"__unixEpochFrom", "__unixEpochTo"}
            )
            assert used <= set(defined), (
                f"{name}/{q.panel}: undefined variables {used - set(defined)}"
            )


def test_pending_panels_are_exactly_the_listed_ones():
    marked = {
        (name, q.panel)
        for name, board in dashboards().items()
        for q in queries(name, board)
        if q.pending
    }
    assert marked == set(PENDING)


# -- against a running monitor and a real Prometheus ---------------------------------------------
def _feed(bootstrap: str, topic: str) -> int:
    """A stream with drift in num_01 from its middle, four invalid messages and 20 late events."""
    spec, data = stream(20_000, drift_at=10_000)
    lines = data.splitlines()
    bad = [
        b"{not json",
        (
            b'{"model_id": "ghost", "model_version": "1", "prediction_id": "x", '
            b'"timestamp": 1, "features": {}}'
        ),
    ]
    produce(bootstrap, topic, lines[:5000] + bad + lines[5000:] + bad)
    late = [line.replace(b'"prediction_id":"', b'"prediction_id":"late-') for line in lines[:20]]
    produce(bootstrap, topic, late)  # their panes closed long ago on every partition
    return spec


def _resolve(prom, board: dict) -> dict[str, str]:
    """Grafana's resolution of query variables, in order: each one's label_values() through the
    label-values API; "All" for multi-value variables, else the preferred value when offered."""
    values: dict[str, str | list[str]] = {}
    for var in board["templating"]["list"]:
        selector, label = label_values(var["query"]["query"])
        params = {"match[]": substitute(selector, values)} if selector else {}
        got = prom.api(f"label/{label}/values", **params)
        assert got["status"] == "success" and got["data"], (
            f"variable ${var['name']} resolves to nothing: {var['query']['query']}"
        )
        if var["multi"]:
            values[var["name"]] = got["data"]
        else:
            values[var["name"]] = (
                PREFERRED.get(var["name"])
                if PREFERRED.get(var["name"]) in got["data"]
                else got["data"][0]
            )
    return values


@pytest.fixture
def live_monitor(tmp_path, bootstrap, topic_factory, group_id, sqlite_url):
    """`monitor --log-json run` as a child process on the embedded broker, fed a drifting stream."""
    topic = topic_factory(4)
    path = write_config(
        tmp_path / "monitor.yaml",
        db_url=sqlite_url,
        bootstrap=bootstrap,
        topic=topic,
        group=group_id,
        window="5s",
    )
    config = yaml.safe_load(path.read_text())
    port = free_port()
    config["metrics"] = {"host": "127.0.0.1", "port": port}
    path.write_text(yaml.safe_dump(config))
    cfg = load_config(path)
    create_topics(client_config(cfg), cfg)
    spec, _ = stream(1)
    store = prepare_store(cfg, spec)
    log = tmp_path / "monitor.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [MONITOR, "--log-json", "run", "-c", str(path), "--no-print-windows"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    try:
        yield {"topic": topic, "port": port, "store": store, "log": log, "process": process}
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()


def _get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_every_dashboard_query_returns_data_from_a_live_monitor(
    live_monitor, prometheus, bootstrap
):
    base = f"http://127.0.0.1:{live_monitor['port']}"
    wait_for(lambda: _alive(base), 120, "monitor's ops endpoint")
    prom = prometheus([f"127.0.0.1:{live_monitor['port']}"])
    wait_for(
        lambda: _get(f"{base}/readyz")[0] == 200, 120, "monitor to be ready (partitions assigned)"
    )
    _feed(bootstrap, live_monitor["topic"])
    store = live_monitor["store"]
    wait_for(
        lambda: len({r["window_start"] for r in store.windows("demo")}) >= 4,
        120,
        "the stream's windows to close",
    )

    boards = dashboards()
    expressions = [
        (name, q)
        for name, board in boards.items()
        for q in queries(name, board)
        if q.datasource == "prometheus"
    ]
    assert len(expressions) > 40

    def run_all() -> dict[tuple[str, str, str], dict]:
        values = {name: _resolve(prom, board) for name, board in boards.items()}
        return {
            (name, q.panel, expr): prom.query(expr)
            for name, q in expressions
            for expr in [substitute(q.text, values[name])]
        }

    def empty(results: dict) -> list[tuple[str, str, str]]:
        return [
            key
            for key, r in results.items()
            if (key[0], key[1]) not in PENDING and not (r.get("data") or {}).get("result")
        ]

    results: dict | None = None

    def scraped() -> bool:
        nonlocal results
        try:
            results = run_all()
        except AssertionError:
            return False  # a variable does not resolve yet: nothing scraped yet
        return not empty(results)

    # Until every series has been scraped twice within a rate window. On a timeout, go on: the
    # assertions below name the queries that stayed empty.
    with contextlib.suppress(AssertionError):
        wait_for(scraped, 120, "every dashboard query to return data", interval=1)
    assert results is not None, "the dashboard variables never resolved"
    invalid = {key: r.get("error") for key, r in results.items() if r["status"] != "success"}
    assert not invalid, f"invalid PromQL: {invalid}"
    targets = [(t["health"], t["lastError"]) for t in prom.api("targets")["data"]["activeTargets"]]
    assert not empty(results), f"targets {targets}; queries without data:\n" + "\n".join(
        f"  {d} / {p}: {e}" for d, p, e in empty(results)
    )
    pending = [key for key in results if (key[0], key[1]) in PENDING]
    assert {(d, p) for d, p, _ in pending} == set(PENDING)

    # The drift itself is visible: num_01 is critical in the latest window, num_00 is not.
    severity = {
        r["metric"]["feature"]: float(r["value"][1])
        for r in prom.query('monitor_drift_severity{model_id="demo"}')["data"]["result"]
    }
    assert severity["num_01"] == 2 and severity["num_00"] == 0
    late = prom.query('sum(monitor_events_late_total{model_id="demo"})')["data"]["result"]
    assert float(late[0]["value"][1]) == 20
    invalid_by_reason = {
        r["metric"]["reason"]: float(r["value"][1])
        for r in prom.query("sum by (reason) (monitor_events_invalid_total)")["data"]["result"]
    }
    assert invalid_by_reason == {"invalid_json": 2, "unknown_model": 2}

    # The alert rules evaluate cleanly on the real metrics, and the drift alert fires.
    rules = [r for g in prom.api("rules")["data"]["groups"] for r in g["rules"]]
    assert rules and all(r["health"] == "ok" for r in rules), [
        (r["name"], r.get("lastError")) for r in rules if r["health"] != "ok"
    ]
    wait_for(
        lambda: any(
            a["labels"]["alertname"] == "MonitorFeatureDriftCritical"
            and a["labels"]["feature"] == "num_01"
            for a in prom.api("alerts")["data"]["alerts"]
        ),
        60,
        "the drift alert",
    )

    # Health endpoints and the lag gauge, straight from the service.
    assert _get(f"{base}/healthz") == (200, {"status": "alive"})
    assert _get(f"{base}/readyz") == (200, {"ready": True})
    metrics = urllib.request.urlopen(f"{base}/metrics", timeout=5).read().decode()
    lag = re.findall(
        (
            rf'^monitor_consumer_lag_events\{{partition="(\d)",topic="{live_monitor["topic"]}"\}} '
            r"(\S+)$"
        ),
        metrics,
        re.MULTILINE,
    )
    assert sorted(p for p, _ in lag) == ["0", "1", "2", "3"] and all(float(v) == 0 for _, v in lag)

    # JSON logs: every line Python logged is one JSON object.
    lines = [line for line in live_monitor["log"].read_text().splitlines() if line.strip()]
    records = [
        json.loads(line) for line in lines if not line.startswith("%")
    ]  # "%": librdkafka's own stderr
    assert records and all({"time", "level", "logger", "message"} <= r.keys() for r in records)
    assert any(r["message"].startswith("assigned") for r in records)

    # The window-history panel's SQL runs on the store the service wrote.
    _check_sql(boards, store.engine, {**PREFERRED, "feature": ["num_00", "num_01", "cat10"]})


def _alive(base: str) -> bool:
    try:
        return _get(f"{base}/healthz")[0] == 200
    except OSError:
        return False


def _sql_queries(boards: dict) -> list[str]:
    return [
        q.text
        for name, board in boards.items()
        for q in queries(name, board)
        if q.datasource == "monitor-db"
    ]


def _check_sql(boards: dict, engine, values: dict[str, str | list[str]]) -> None:
    sqls = _sql_queries(boards)
    assert sqls, "a window-history panel queries the database"
    for sql in sqls:
        sql = sql.replace("$__unixEpochFrom()", "0").replace(
            "$__unixEpochTo()", "4102444800"
        )  # up to 2100
        with engine.connect() as conn:
            rows = conn.execute(text(substitute(sql, values, sql=True))).mappings().all()
        assert rows, sql
        assert {"time", "feature", "severity", "psi", "missing_rate"} <= set(rows[0].keys())
        assert {r["feature"] for r in rows} == set(values["feature"])
        psi = {(r["feature"], r["time"]): r["psi"] for r in rows}
        assert max(v for (f, _), v in psi.items() if f == "num_01") > 0.25  # the drift
        assert max(v for (f, _), v in psi.items() if f == "num_00") < 0.1


@pytest.mark.postgres
def test_window_history_sql_runs_on_postgresql(pg_url, tmp_path):
    from monitor.pipeline.files import replay
    from tests.kafka.kit import prepare_store as prepare

    path = write_config(
        tmp_path / "monitor.yaml",
        db_url=pg_url,
        bootstrap="127.0.0.1:1",
        topic="t",
        group="g",
        window="5s",
    )
    cfg = load_config(path)
    spec, data = stream(20_000, drift_at=10_000)
    store = prepare(cfg, spec)
    events = tmp_path / "events.jsonl"
    events.write_bytes(data)
    replay(cfg, store, [events])
    _check_sql(dashboards(), store.engine, {**PREFERRED, "feature": ["num_00", "num_01", "cat10"]})
    store.engine.dispose()
