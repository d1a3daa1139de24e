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
        ({"colour": "red"}, "models.m.colour", "unknown key 'colour', did you mean 'columns'?"),
        ({"qwerty": 1}, "models.m.qwerty", "unknown key 'qwerty'; known keys: allowed_lateness, "),
        (
            {"rules": [{"name": "d", "kind": "feature_drift", "critical": 1, "fro": 2}]},
            "models.m.rules.0.fro",
            "did you mean 'for'?",
        ),
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


def test_an_error_of_the_whole_config_names_its_key():
    rule = {"name": "d", "kind": "feature_drift", "critical": 1, "sinks": {"critical": ["x"]}}
    with pytest.raises(ConfigError) as info:
        parse_config({"models": {"m": {**MODEL, "rules": [rule]}, "b": {**MODEL, "windw": 1}}})
    assert str(info.value) == "models.b.windw: unknown key 'windw', did you mean 'window'?"
    with pytest.raises(ConfigError) as info:
        parse_config({"models": {"m": {**MODEL, "rules": [rule]}}})
    assert info.value.key == "models.m.rules.0.sinks.critical"


def test_model_for_models_says_did_you_mean_not_only_field_required():
    with pytest.raises(ConfigError) as info:
        parse_config({"model": {"m": MODEL}})
    assert str(info.value) == "model: unknown key 'model', did you mean 'models'?"


def test_every_error_at_once_each_naming_its_key(monkeypatch):
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    with pytest.raises(ConfigError) as info:
        parse_config(
            {
                "database_url": "${NOT_SET_ANYWHERE}",
                "kafak": {},
                "metrics": {"port": 99999},
                "alerts": {"sinks": {"ops": {"type": "slack", "urll": "${NOT_SET_ANYWHERE}"}}},
                "models": {"a": {**MODEL, "windw": "1h"}, "b": {**MODEL, "window": "soon"}},
            }
        )
    lines = str(info.value).splitlines()  # no "alerts.sinks.ops.url: Field required": the
    # did-you-mean says it
    assert lines[0] == "7 problems in the config:"
    assert sorted(line.strip() for line in lines[1:]) == [
        "alerts.sinks.ops.urll: environment variable NOT_SET_ANYWHERE is not set",
        "alerts.sinks.ops.urll: unknown key 'urll', did you mean 'url'?",
        "database_url: environment variable NOT_SET_ANYWHERE is not set",
        "kafak: unknown key 'kafak', did you mean 'kafka'?",
        "metrics.port: Input should be less than or equal to 65535",
        "models.a.windw: unknown key 'windw', did you mean 'window'?",
        "models.b.window: expected a duration such as '90s', '5m', '1h' or '7d', got 'soon'",
    ]


SINK = (
    "models: {m: {features: {x: {kind: numeric}}}}\n"
    "alerts: {sinks: {slack: {type: slack, url: '${MONITOR_TEST_SLACK_URL}'}}}\n"
)


def test_sink_secrets_are_needed_only_to_send(tmp_path, monkeypatch):
    monkeypatch.delenv("MONITOR_TEST_SLACK_URL", raising=False)
    path = tmp_path / "monitor.yaml"
    path.write_text(SINK)
    with pytest.raises(ConfigError, match="MONITOR_TEST_SLACK_URL is not set"):
        load_config(path)
    read_only = load_config(path, secrets=False)
    assert read_only.models["m"].features["x"].kind == "numeric"
    # anything else still needs its variables
    path.write_text(SINK + "database_url: ${MONITOR_TEST_SLACK_URL}\n")
    with pytest.raises(ConfigError, match="^database_url: environment variable"):
        load_config(path, secrets=False)


def test_a_relative_sqlite_path_is_beside_the_config_file(tmp_path, monkeypatch):
    conf = tmp_path / "conf"
    conf.mkdir()
    models = "models: {m: {features: {x: {kind: numeric}}}}\n"
    (conf / "default.yaml").write_text(models)
    (conf / "nested.yaml").write_text("database_url: sqlite:///data/m.db?timeout=5\n" + models)
    (conf / "absolute.yaml").write_text(f"database_url: sqlite:///{tmp_path}/a.db\n" + models)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert load_config("../conf/default.yaml").database_url == f"sqlite:///{conf}/monitor.db"
    assert load_config(conf / "nested.yaml").database_url == f"sqlite:///{conf}/data/m.db?timeout=5"
    assert load_config(conf / "absolute.yaml").database_url == f"sqlite:///{tmp_path}/a.db"


@pytest.mark.parametrize("name", ['say "hi"', "back\\slash", "tab\there", "nul\x00"])
def test_a_feature_name_the_decoder_cannot_read_is_a_config_error(name: str):
    """Quotes, backslashes and control characters in a feature name failed at start with a raw
    error from the decoder; the config names the feature instead."""
    with pytest.raises(ConfigError, match="a feature name may not contain"):
        parse_config({"models": {"m": {"features": {name: {"kind": "numeric"}}}}})
