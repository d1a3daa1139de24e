"""The config file: validation errors name the key; secrets only from the environment."""

from __future__ import annotations

import pytest

from monitor.config import load_config, parse_config
from monitor.exceptions import ConfigError

MODEL = {"features": {"x": {"kind": "numeric"}}}


@pytest.mark.parametrize(
    ("change", "key", "problem"),
    [
        ({"window": "soon"}, "models.m.window", "expected a duration"),
        ({"slide": "7m", "window": "1h"}, "models.m.slide", "divide the window"),
        ({"statistics": ["psi", "kl"]}, "models.m.statistics", "unknown statistic 'kl'"),
        (
            {"thresholds": {"psi": {"warning": 0.3, "critical": 0.1}}},
            "models.m.thresholds.psi",
            "critical >= warning",
        ),
        (
            {"features": {"prediction": {"kind": "numeric"}}},
            "models.m.features.prediction",
            "reserved",
        ),
        ({"colour": "red"}, "models.m.colour", "Extra inputs are not permitted"),
    ],
)
def test_errors_name_the_key(change, key, problem):
    with pytest.raises(ConfigError) as info:
        parse_config({"models": {"m": {**MODEL, **change}}})
    assert info.value.key == key and problem in info.value.problem


def test_environment_interpolation(monkeypatch):
    monkeypatch.setenv("DB_PASSWORD", "s3cret")
    cfg = parse_config(
        {"database_url": "postgresql://u:${DB_PASSWORD}@db/monitor", "models": {"m": MODEL}}
    )
    assert cfg.database_url == "postgresql://u:s3cret@db/monitor"
    monkeypatch.delenv("DB_PASSWORD")
    with pytest.raises(
        ConfigError, match="database_url: environment variable DB_PASSWORD is not set"
    ):
        parse_config(
            {"database_url": "postgresql://u:${DB_PASSWORD}@db/monitor", "models": {"m": MODEL}}
        )


def test_sink_secrets_in_a_file_must_come_from_the_environment(tmp_path, monkeypatch):
    path = tmp_path / "monitor.yaml"
    path.write_text(
        "models: {m: {features: {x: {kind: numeric}}}}\nalerts: {sinks: {slack: {type: "
        "slack, url: 'https://hooks.slack.com/services/T/B/X'}}}\n"
    )
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.key == "alerts.sinks.slack.url" and "${VARIABLE}" in info.value.problem
    monkeypatch.setenv("SLACK_URL", "https://hooks.slack.com/services/T/B/X")
    path.write_text(
        "models: {m: {features: {x: {kind: numeric}}}}\nalerts: {sinks: {slack: {type: "
        "slack, url: '${SLACK_URL}'}}}\n"
    )
    assert load_config(path).alerts.sinks["slack"].url.get_secret_value().endswith("/X")


def test_the_readme_config_example_is_valid(tmp_path, monkeypatch):
    from pathlib import Path

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    example = readme.split("## Configuration", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    for name in ("PGPASSWORD", "KAFKA_USER", "KAFKA_PASSWORD", "SLACK_WEBHOOK_URL", "GITHUB_TOKEN"):
        monkeypatch.setenv(name, "x")
    path = tmp_path / "monitor.yaml"
    path.write_text(example)
    cfg = load_config(path)
    assert cfg.models["fraud"].topics.labels == "labels" and set(cfg.alerts.sinks) == {
        "slack",
        "retrain",
    }
