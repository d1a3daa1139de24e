"""Docker: the image is slim, non-root, has a healthcheck and installs pinned dependencies; the
compose file is valid (`docker-compose config`, no engine needed) and brings up every service
with its config; its monitor config has a rule and a sink; its Alertmanager (Debian's
``prometheus-alertmanager`` and ``amtool`` stand in for the image) routes Prometheus's rules."""

from __future__ import annotations

import doctest
import importlib.util
import json
import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import yaml
from packaging.utils import canonicalize_name

from monitor.config import load_config
from monitor.kafka.broker import free_port
from tests.alerts.conftest import Receiver
from tests.helpers import wait_for
from tests.ops.conftest import DASHBOARDS, ROOT, RULES, need

DOCKER = ROOT / "docker"
#: What the compose file needs from the environment (secrets; compose refuses to start without
#: SLACK_WEBHOOK_URL, naming it).
ENV = {"POSTGRES_PASSWORD": "secret", "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T/B/x"}


def instructions(dockerfile: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined, comments dropped."""
    text = re.sub(
        r"\\\n",
        " ",
        "\n".join(line for line in dockerfile.splitlines() if not line.lstrip().startswith("#")),
    )
    return [
        (m.group(1).upper(), m.group(2).strip())
        for m in re.finditer(r"^\s*(\w+)\s+(.*)$", text, re.MULTILINE)
    ]


def test_image_is_slim_non_root_with_a_healthcheck():
    steps = instructions((DOCKER / "Dockerfile").read_text())
    bases = [args for op, args in steps if op == "FROM"]
    assert bases and all("slim" in b for b in bases)
    final = steps[max(i for i, (op, _) in enumerate(steps) if op == "FROM") :]
    users = [args for op, args in final if op == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    health = [args for op, args in final if op == "HEALTHCHECK"]
    assert (
        len(health) == 1
        and "/healthz" in (DOCKER / "Dockerfile").read_text()
        and "CMD" in health[0]
    )
    assert any(op == "ENTRYPOINT" and "monitor" in args for op, args in final)
    ignore = [
        line.strip()
        for line in (DOCKER / "Dockerfile.dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert ignore[0] == "*" and {"!pyproject.toml", "!README.md", "!monitor/"} <= set(ignore)


def compose_config(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`docker-compose config` of docker/compose.yaml with exactly ``env`` for its variables."""
    keep = {k: v for k, v in os.environ.items() if k not in ENV}
    return subprocess.run(
        [need("docker-compose"), "-f", str(DOCKER / "compose.yaml"), "config"],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        env={**keep, **env},
    )


def test_compose_file_is_valid_and_complete():
    result = compose_config(ENV)
    assert result.returncode == 0, result.stderr
    compose = yaml.safe_load(result.stdout)
    services = compose["services"]
    assert set(services) == {
        "kafka",
        "postgres",
        "monitor",
        "generator",
        "prometheus",
        "alertmanager",
        "grafana",
    }
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert (
        "controller" in services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"]
    )  # KRaft, no ZooKeeper
    assert (
        services["monitor"]["command"][0] == "run"
        and services["generator"]["command"][0] == "generate"
    )
    assert services["monitor"]["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert services["monitor"]["environment"]["POSTGRES_PASSWORD"] == "secret"
    for name in ("monitor", "generator", "alertmanager"):
        assert services[name]["environment"]["SLACK_WEBHOOK_URL"] == ENV["SLACK_WEBHOOK_URL"]
    grafana_mounts = {v.split(":")[1] for v in _volumes(services["grafana"])}
    assert {"/etc/grafana/provisioning", "/var/lib/grafana/dashboards/monitor"} <= grafana_mounts
    prometheus_sources = {v.split(":")[0] for v in _volumes(services["prometheus"])}
    assert str(DASHBOARDS / "prometheus" / "rules.yml") in prometheus_sources
    assert "alertmanager" in services["prometheus"]["depends_on"]
    alertmanager = services["alertmanager"]
    assert alertmanager["image"].startswith("prom/alertmanager:")
    assert (
        f"{DOCKER / 'alertmanager' / 'alertmanager.yml'}:/etc/alertmanager/alertmanager.yml"
        in _volumes(alertmanager)[0]
    )


def test_compose_refuses_to_start_without_the_slack_webhook():
    result = compose_config({"POSTGRES_PASSWORD": "secret"})
    assert result.returncode != 0
    assert "set SLACK_WEBHOOK_URL to a Slack incoming webhook URL" in result.stderr


def _volumes(service: dict) -> list[str]:
    out = []
    for v in service["volumes"]:
        out.append(v if isinstance(v, str) else f"{v['source']}:{v['target']}")
    return out


def test_the_compose_monitor_config_validates(monkeypatch):
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    result = subprocess.run(
        [sys.executable, "-m", "monitor", "config", "validate", str(DOCKER / "monitor.yaml")],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    cfg = load_config(DOCKER / "monitor.yaml")
    assert cfg.metrics.host == "0.0.0.0" and cfg.kafka.bootstrap_servers == "kafka:9092"
    assert cfg.database_url.startswith("postgresql+psycopg2://monitor:secret@postgres:5432/")
    # An example rule and a sink: the Slack webhook from the environment, routed by severity.
    kinds = {r.kind for r in cfg.models["demo"].rules}
    assert {"feature_drift", "dataset_drift"} <= kinds
    slack = cfg.alerts.sinks["slack"]
    assert slack.type == "slack" and slack.url.get_secret_value() == ENV["SLACK_WEBHOOK_URL"]
    assert cfg.alerts.routes == {"warning": ("slack",), "critical": ("slack",)}


def test_the_compose_prometheus_config_passes_promtool(tmp_path):
    config = yaml.safe_load((DOCKER / "prometheus" / "prometheus.yml").read_text())
    assert config["rule_files"] == ["/etc/prometheus/rules/rules.yml"]
    config["rule_files"] = [
        str(DASHBOARDS / "prometheus" / "rules.yml")
    ]  # where compose mounts it from
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    result = subprocess.run(
        [need("promtool"), "check", "config", str(tmp_path / "prometheus.yml")],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # The alert rules select job="monitor"; the dashboards' $job defaults to it.
    assert config["scrape_configs"][0]["job_name"] == "monitor"
    # Alerts go to the compose file's Alertmanager, on the port it listens on.
    targets = [
        t
        for am in config["alerting"]["alertmanagers"]
        for c in am["static_configs"]
        for t in c["targets"]
    ]
    assert targets == ["alertmanager:9093"]


# -- the constraints file -----------------------------------------------------------------------
def _lock():
    spec = importlib.util.spec_from_file_location("docker_lock", DOCKER / "lock.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _pins() -> dict[str, str]:
    pins = {}
    for line in (DOCKER / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            pins[canonicalize_name(name)] = version
    return pins


def test_constraints_pin_every_runtime_dependency_within_pyproject():
    lock = _lock()
    pins = _pins()
    requirements = lock.runtime_requirements()
    assert {"numpy", "psycopg2-binary", "confluent-kafka"} <= {
        canonicalize_name(r.name) for r in requirements
    }
    for req in requirements:
        name = canonicalize_name(req.name)
        assert name in pins, f"{req} is not pinned in docker/constraints.txt"
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"docker/constraints.txt pins {name}=={pins[name]}, outside pyproject's {req}"
        )
    # Their own requirements too (extras such as confluent-kafka[schemaregistry] included),
    # and nothing else: the closure over the environment the tests run in.
    assert set(pins) == set(lock.closure(requirements)), (
        "stale: run .venv/bin/python docker/lock.py > docker/constraints.txt"
    )
    assert doctest.testmod(lock).failed == 0


def test_the_image_installs_with_the_constraints():
    text = (DOCKER / "Dockerfile").read_text()
    steps = instructions(text)
    copies = [args for op, args in steps if op == "COPY"]
    assert any("docker/constraints.txt" in c.split() for c in copies)
    installs = [args for op, args in steps if op == "RUN" and "pip install" in args]
    assert installs and all("-c constraints.txt" in args for args in installs)
    ignore = (DOCKER / "Dockerfile.dockerignore").read_text().splitlines()
    assert "!docker/constraints.txt" in ignore


# -- Alertmanager --------------------------------------------------------------------------------
ALERTMANAGER = DOCKER / "alertmanager" / "alertmanager.yml"
#: Prometheus alerts that monitor's own rules (docker/monitor.yaml) send to Slack already.
DUPLICATED = {
    "MonitorFeatureDriftCritical": "feature_drift",
    "MonitorDatasetDrift": "dataset_drift",
}


def amtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [need("amtool"), *args], check=False, capture_output=True, text=True, timeout=60
    )


def test_alertmanager_config_passes_amtool():
    result = amtool("check-config", str(ALERTMANAGER))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_alertmanager_routes_every_prometheus_rule(monkeypatch):
    rules = [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]
    assert len(rules) == 13
    routed = {}
    for rule in rules:
        result = amtool(
            "config",
            "routes",
            "test",
            f"--config.file={ALERTMANAGER}",
            f"alertname={rule['alert']}",
            f"severity={rule['labels']['severity']}",
        )
        assert result.returncode == 0, result.stdout + result.stderr
        routed[rule["alert"]] = result.stdout.strip()
    expected = {name: "monitor-rules" if name in DUPLICATED else "slack" for name in routed}
    assert routed == expected
    # The ones kept out of Slack are those monitor.yaml has rules of its own for.
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    kinds = {r.kind for r in load_config(DOCKER / "monitor.yaml").models["demo"].rules}
    assert set(DUPLICATED.values()) <= kinds


def _entrypoint(tmp: Path, port: int) -> list[str]:
    """The compose file's alertmanager entrypoint, its container paths mapped into ``tmp`` and
    onto Debian's binary, listening on ``port`` without clustering."""
    compose = yaml.safe_load(compose_config(ENV).stdout)
    argv = compose["services"]["alertmanager"]["entrypoint"]
    script = argv[-1].replace("$$", "$")  # docker-compose v1 prints the escaped form
    config = yaml.safe_load(ALERTMANAGER.read_text())
    # Send at once (the shipped group_wait is 30 s); the routes and receivers are the shipped ones.
    config["route"]["group_wait"] = "0s"
    receiver = config["receivers"][0]["slack_configs"][0]
    receiver["api_url_file"] = receiver["api_url_file"].replace("/alertmanager", str(tmp))
    (tmp / "alertmanager.yml").write_text(yaml.safe_dump(config))
    paths = {
        "/etc/alertmanager/alertmanager.yml": str(tmp / "alertmanager.yml"),
        "/bin/alertmanager": need("prometheus-alertmanager"),
        "/alertmanager": str(tmp),
    }
    assert all(container in script for container in paths)
    # One pass, longest first: a mapped path is not mapped again.
    script = re.sub("|".join(sorted(paths, key=len, reverse=True)), lambda m: paths[m[0]], script)
    script += f" --web.listen-address=127.0.0.1:{port} --cluster.listen-address="
    return [*argv[:-1], script]


def test_alertmanager_sends_prometheus_alerts_to_the_slack_webhook(tmp_path):
    """The compose entrypoint writes $SLACK_WEBHOOK_URL where the config reads it; a critical
    pipeline alert reaches that webhook, what it implies is inhibited, the drift alert that
    monitor sends itself is routed to no integration."""
    slack = Receiver()
    port = free_port()
    log = (tmp_path / "alertmanager.log").open("wb")
    process = subprocess.Popen(
        _entrypoint(tmp_path, port),
        env={**os.environ, "SLACK_WEBHOOK_URL": slack.url("/services/T/B/x")},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}/api/v2"
    try:

        def up() -> bool:
            assert process.poll() is None, (tmp_path / "alertmanager.log").read_text()
            try:
                return urllib.request.urlopen(f"{base}/status", timeout=5).status == 200
            except OSError:
                return False

        wait_for(up, 60, "alertmanager to listen")
        assert (tmp_path / "slack_webhook_url").stat().st_mode & 0o077 == 0  # owner only
        alerts = [
            {
                "labels": {"alertname": name, "severity": severity, **labels},
                "annotations": {"summary": f"{name} summary", "description": "why"},
            }
            for name, severity, labels in (
                ("MonitorDown", "critical", {"instance": "monitor:9108", "job": "monitor"}),
                ("MonitorNotReady", "critical", {"instance": "monitor:9108"}),
                ("MonitorDatasetDrift", "critical", {"model_id": "demo", "model_version": "v1"}),
            )
        ]
        request = urllib.request.Request(
            f"{base}/alerts",
            data=json.dumps(alerts).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        assert urllib.request.urlopen(request, timeout=10).status == 200
        wait_for(lambda: slack.requests, 60, "the Slack webhook to be called")
        message = slack.requests[0]
        assert message.path == "/services/T/B/x"
        assert "MonitorDown" in json.dumps(message.json())

        def states() -> dict[str, dict]:
            with urllib.request.urlopen(f"{base}/alerts", timeout=10) as resp:
                return {a["labels"]["alertname"]: a for a in json.loads(resp.read())}

        wait_for(lambda: states()["MonitorNotReady"]["status"]["inhibitedBy"], 60, "the inhibition")
        got = states()
        assert [r["name"] for r in got["MonitorDown"]["receivers"]] == ["slack"]
        assert [r["name"] for r in got["MonitorDatasetDrift"]["receivers"]] == ["monitor-rules"]
        assert all("MonitorDatasetDrift" not in r.body.decode() for r in slack.requests)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
        slack.stop()
