"""The Grafana dashboards: well-formed JSON checks, and every query run for real.

The live test starts ``monitor run`` (a child process, JSON logs) on the embedded Tansu broker
with a labels topic, an alert rule and a webhook sink, feeds it a stream with drift, invalid and
late events and labels, starts Prometheus scraping it every second under a job that is not the
default one, and then runs every PromQL expression of every dashboard through Prometheus's HTTP
API, with the dashboard variables resolved the way Grafana resolves them (datasources by type,
``label_values``): each must return data. No Grafana server runs here, so this is the check.
"""

from __future__ import annotations

import contextlib
import doctest
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
from monitor.stats.registry import DEFAULT_THRESHOLDS, STATISTICS
from monitor.synth import generate, labels_to_jsonl
from tests.alerts.conftest import Receiver
from tests.kafka.kit import MONITOR, prepare_store, produce, stream, wait_for, write_config
from tests.ops.conftest import DASHBOARDS
from tests.ops.grafana import (
    BUILTINS,
    DATASOURCE_VARIABLES,
    GRAFANA,
    dashboards,
    label_values,
    panels,
    provisioned_uids,
    queries,
    substitute,
    variable_query,
)

#: Values preferred when a variable resolves to several (the drifted feature, PSI).
PREFERRED = {"model": "demo", "version": "v1", "feature": "num_01", "statistic": "psi"}
#: The Prometheus job of the live test: not the dashboards' default, so a query that ignores
#: $job (or names job="monitor") finds nothing.
JOB = "model-monitor"
#: A metric selector in PromQL, with its matchers.
SELECTOR = re.compile(r"\b((?:monitor|process)_\w+)(\{[^}]*\})?(?![\w(])")


# -- the JSON
# ---------------------------------------------------------------------------------------
def test_dashboard_json_is_what_build_py_writes():
    spec = importlib.util.spec_from_file_location("build_dashboards", DASHBOARDS / "build.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    assert doctest.testmod(build).failed == 0
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


def _datasource_refs(board: dict) -> list[dict]:
    refs = [v["datasource"] for v in board["templating"]["list"] if "datasource" in v]
    for p in panels(board):
        if p["type"] != "row":
            refs += [p["datasource"]] + [t["datasource"] for t in p["targets"]]
    return refs


def test_datasources_come_from_variables_not_uids():
    """Importing into any Grafana needs no edit: every panel, target and query variable names
    its datasource through a datasource variable whose type the provisioning file provides."""
    provisioned = provisioned_uids()
    assert sorted(provisioned.values()) == sorted(DATASOURCE_VARIABLES.values())
    for name, board in dashboards().items():
        pickers = {
            v["name"]: v["query"] for v in board["templating"]["list"] if v["type"] == "datasource"
        }
        assert pickers.get("datasource") == "prometheus", name
        assert pickers.items() <= DATASOURCE_VARIABLES.items(), name
        for ref in _datasource_refs(board):
            var = re.fullmatch(r"\$\{(\w+)\}", ref["uid"])
            assert var and pickers.get(var[1]) == ref["type"], f"{name}: hard-coded {ref}"
        text = json.dumps(board)
        for uid in provisioned:
            assert f'"uid": "{uid}"' not in text, f"{name} names the datasource uid {uid!r}"


def test_no_stale_text():
    for name, board in dashboards().items():
        text = json.dumps(board)
        for stale in ("Pending:", "not yet updated"):
            assert stale not in text, f"{name}: {stale!r}"


def test_every_selector_is_scoped_to_the_job_variable():
    for name, board in dashboards().items():
        job = next(v for v in board["templating"]["list"] if v["name"] == "job")
        assert job["current"]["value"] == "monitor"
        assert label_values(variable_query(job)) == ("monitor_ready", "job")
        texts = [(q.panel, q.text) for q in queries(name, board) if q.is_promql]
        texts += [
            (v["name"], variable_query(v))
            for v in board["templating"]["list"]
            if v["type"] == "query" and v["name"] != "job"
        ]
        for where, expr in texts:
            selectors = SELECTOR.findall(expr)
            assert selectors, (name, where, expr)
            for metric, matchers in selectors:
                assert 'job="$job"' in matchers, f"{name}/{where}: {metric} without $job"
        assert 'job=\\"monitor\\"' not in json.dumps(board), name


def _statistic_panels() -> list[tuple[str, dict]]:
    return [
        (name, p)
        for name, board in dashboards().items()
        for p in panels(board)
        if any('statistic="$statistic"' in t.get("expr", "") for t in p.get("targets", []))
    ]


def _override_thresholds(panel: dict, series: str) -> list[tuple[float | None, str]]:
    """The threshold steps Grafana applies to the series named ``series`` of ``panel``."""
    fc = panel["fieldConfig"]
    steps = fc["defaults"]["thresholds"]["steps"]
    matched = [
        o
        for o in fc["overrides"]
        if o["matcher"]["id"] == "byRegexp" and re.search(o["matcher"]["options"], series)
    ]
    assert len(matched) <= 1, f"{panel['title']}: {series} matches {len(matched)} overrides"
    for o in matched:
        steps = next(p["value"]["steps"] for p in o["properties"] if p["id"] == "thresholds")
    return [(s["value"], s["color"]) for s in steps]


def _expected_steps(statistic: str) -> list[tuple[float | None, str]]:
    if statistic not in DEFAULT_THRESHOLDS:
        return [(None, "blue")]  # no default: no verdict colour
    warning, critical = DEFAULT_THRESHOLDS[statistic]
    return [(None, "green"), (warning, "orange"), (critical, "red")]


def test_drift_panels_colour_each_statistic_at_its_own_thresholds():
    found = _statistic_panels()
    assert {p["type"] for _, p in found} == {"bargauge", "timeseries"}
    for name, panel in found:
        assert all(t["legendFormat"] == "{{feature}} ({{statistic}})" for t in panel["targets"])
        for statistic in STATISTICS:
            series = f"num_01 ({statistic})"
            assert _override_thresholds(panel, series) == _expected_steps(statistic), (
                name,
                panel["title"],
                statistic,
            )
        assert "default warning and critical levels" in panel["description"]


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
            if var["type"] == "datasource":
                defined.append(var["name"])
                continue
            selector, _ = label_values(variable_query(var))
            used = set(re.findall(r"\$(\w+)", json.dumps(var["datasource"]) + (selector or "")))
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


# -- against a running monitor and a real Prometheus ---------------------------------------------
def _feed(bootstrap: str, topic: str) -> None:
    """A stream with drift in num_01 from its middle, four invalid messages and 20 late events."""
    _, data = stream(20_000, drift_at=10_000)
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


def _labels(n: int) -> list[bytes]:
    """The labels of the stream's first ``n`` predictions, 60 s after them plus up to 6 s: with
    a 63 s horizon about half come after it (counted, not joined)."""
    spec, _ = stream(1)
    return labels_to_jsonl(spec, generate(spec, n)).splitlines()


def _resolve(prom, board: dict) -> dict[str, str]:
    """Grafana's resolution of the variables, in order: a datasource variable becomes the uid of
    the provisioned datasource of its type; a query variable runs its label_values() through the
    label-values API, "All" for multi-value variables, else the preferred value when offered."""
    values: dict[str, str | list[str]] = {}
    uids = {kind: uid for uid, kind in provisioned_uids().items()}
    for var in board["templating"]["list"]:
        if var["type"] == "datasource":
            values[var["name"]] = uids[var["query"]]
            continue
        selector, label = label_values(variable_query(var))
        params = {"match[]": substitute(selector, values)} if selector else {}
        got = prom.api(f"label/{label}/values", **params)
        assert got["status"] == "success" and got["data"], (
            f"variable ${var['name']} resolves to nothing: {variable_query(var)}"
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
def live_monitor(tmp_path, bootstrap, topic_factory, group_id, sqlite_url, monkeypatch):
    """`monitor --log-json run` as a child process on the embedded broker, with a labels topic,
    a drift rule and a webhook sink (a real HTTP receiver) for its notifications."""
    topic, labels = topic_factory(4), topic_factory(4)
    path = write_config(
        tmp_path / "monitor.yaml",
        db_url=sqlite_url,
        bootstrap=bootstrap,
        topic=topic,
        group=group_id,
        window="5s",
        labels_topic=labels,
        labels={"horizon": "63s"},
        rules=[{"name": "drift", "kind": "feature_drift", "warning": 0.1, "critical": 0.25}],
    )
    config = yaml.safe_load(path.read_text())
    port = free_port()
    config["metrics"] = {"host": "127.0.0.1", "port": port}
    hook = Receiver()
    config["alerts"] = {
        "sinks": {"hook": {"type": "webhook", "url": "${DASHBOARD_TEST_HOOK}"}},
        "routes": {"warning": ["hook"], "critical": ["hook"]},
    }
    path.write_text(yaml.safe_dump(config))
    monkeypatch.setenv("DASHBOARD_TEST_HOOK", hook.url("/hook"))
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
        yield {
            "topic": topic,
            "labels": labels,
            "hook": hook,
            "port": port,
            "store": store,
            "log": log,
            "process": process,
        }
    finally:
        hook.stop()
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
    prom = prometheus([f"127.0.0.1:{live_monitor['port']}"], job=JOB)
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
    produce(bootstrap, live_monitor["labels"], _labels(20_000))
    wait_for(lambda: live_monitor["hook"].requests, 120, "the drift rule's notification")

    boards = dashboards()
    expressions = [
        (name, q) for name, board in boards.items() for q in queries(name, board) if q.is_promql
    ]
    assert len(expressions) > 40

    def run_all(job: str | None = None) -> dict[tuple[str, str, str], dict]:
        values = {name: _resolve(prom, board) for name, board in boards.items()}
        if job is not None:
            values = {name: {**v, "job": job} for name, v in values.items()}
        return {
            (name, q.panel, expr): prom.query(expr)
            for name, q in expressions
            for expr in [substitute(q.text, values[name])]
        }

    def empty(results: dict) -> list[tuple[str, str, str]]:
        return [key for key, r in results.items() if not (r.get("data") or {}).get("result")]

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
        wait_for(scraped, 180, "every dashboard query to return data", interval=1)
    assert results is not None, "the dashboard variables never resolved"
    assert {v["job"] for v in (_resolve(prom, b) for b in boards.values())} == {JOB}
    invalid = {key: r.get("error") for key, r in results.items() if r["status"] != "success"}
    assert not invalid, f"invalid PromQL: {invalid}"
    targets = [(t["health"], t["lastError"]) for t in prom.api("targets")["data"]["activeTargets"]]
    assert not empty(results), f"targets {targets}; queries without data:\n" + "\n".join(
        f"  {d} / {p}: {e}" for d, p, e in empty(results)
    )
    # $job is what selects the data: with another job, nothing but the `or vector(0)` zeros.
    for key, r in run_all(job="no-such-job").items():
        series = r["data"]["result"]
        assert all(s["metric"] == {} and float(s["value"][1]) == 0 for s in series), key

    # Each statistic's series is coloured at its own default thresholds (no two overrides
    # claim one series): the names Grafana would draw, from the real series.
    statistic_panels = [p for _, p in _statistic_panels()]
    served = prom.query('monitor_drift_statistic{model_id="demo"}')["data"]["result"]
    assert {s["metric"]["statistic"] for s in served} == set(STATISTICS)
    for s in served:
        name = f"{s['metric']['feature']} ({s['metric']['statistic']})"
        for panel in statistic_panels:
            assert _override_thresholds(panel, name) == _expected_steps(s["metric"]["statistic"])

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
        if q.datasource["type"] == DATASOURCE_VARIABLES["database"]
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
