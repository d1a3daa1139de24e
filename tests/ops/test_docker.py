"""Docker: the image is slim, non-root and has a healthcheck; the compose file is valid
(`docker-compose config`, no engine needed) and brings up every service with its config."""

from __future__ import annotations

import os
import re
import subprocess

import yaml

from monitor.config import load_config
from tests.ops.conftest import DASHBOARDS, ROOT, need

DOCKER = ROOT / "docker"


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


def test_compose_file_is_valid_and_complete():
    result = subprocess.run(
        [need("docker-compose"), "-f", str(DOCKER / "compose.yaml"), "config"],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "POSTGRES_PASSWORD": "secret"},
    )
    assert result.returncode == 0, result.stderr
    compose = yaml.safe_load(result.stdout)
    services = compose["services"]
    assert set(services) == {"kafka", "postgres", "monitor", "generator", "prometheus", "grafana"}
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
    grafana_mounts = {v.split(":")[1] for v in _volumes(services["grafana"])}
    assert {"/etc/grafana/provisioning", "/var/lib/grafana/dashboards/monitor"} <= grafana_mounts
    prometheus_sources = {v.split(":")[0] for v in _volumes(services["prometheus"])}
    assert str(DASHBOARDS / "prometheus" / "rules.yml") in prometheus_sources


def _volumes(service: dict) -> list[str]:
    out = []
    for v in service["volumes"]:
        out.append(v if isinstance(v, str) else f"{v['source']}:{v['target']}")
    return out


def test_the_compose_monitor_config_validates(monkeypatch):
    monkeypatch.setenv("POSTGRES_PASSWORD", "secret")
    cfg = load_config(DOCKER / "monitor.yaml")
    assert cfg.metrics.host == "0.0.0.0" and cfg.kafka.bootstrap_servers == "kafka:9092"
    assert cfg.database_url.startswith("postgresql+psycopg2://monitor:secret@postgres:5432/")


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
    assert config["scrape_configs"][0]["job_name"] == "monitor"  # dashboards select job="monitor"
