"""The newcomer's traps of issue 14 on the command line: start-up imports, exit statuses,
``--fail-on``, ``--format json``, start-up warnings, sink secrets only where they are sent,
SQLite beside the config file, and tables with only the columns of the model."""

from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner, Result

from monitor.cli import main
from monitor.synth import reference_rows
from tests.test_cli import (  # noqa: F401 (fixtures)
    CONFIG,
    SPEC,
    _keep_logging,
    build_and_replay,
    events,
    reference_csv,
    run,
    srun,
)

HEAVY = ("scipy", "numpy", "river", "sqlalchemy", "confluent_kafka", "pandas", "sklearn")


def _imported_by(*args: str, env: dict[str, str] | None = None) -> list[str]:
    """The heavy top-level packages ``python -m monitor ARGS`` imports, from a fresh process
    (``env``: added to this one's environment)."""
    code = (
        "import sys\n"
        "from monitor.__main__ import main\n"
        f"sys.argv = ['monitor', *{list(args)!r}]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & {set(HEAVY)!r}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env={**os.environ, **(env or {})},
    )
    return json.loads(done.stdout.splitlines()[-1].replace("'", '"'))


@pytest.mark.parametrize("args", [["--help"], ["alerts", "--help"], ["windows", "--help"]])
def test_help_imports_no_heavy_library(args: list[str]) -> None:
    assert _imported_by(*args) == []


def test_a_command_imports_what_it_needs() -> None:
    # the check above can fail: a command that runs does import them
    assert "sqlalchemy" in _imported_by("db", "upgrade", "-c", str(CONFIG))


def test_windows_on_sqlite_reads_without_sqlalchemy_or_numpy(
    tmp_path: Path, srun, reference_csv: Path, events: Path
) -> None:
    assert srun("reference", "build", "-c", CONFIG, "-m", "fraud", reference_csv).exit_code == 0
    assert srun("replay", "-c", CONFIG, "--no-progress", events).exit_code == 0
    windows = ["windows", "-c", str(CONFIG), "-m", "fraud"]
    assert "num_02" in srun(*windows).stdout  # what the command below reads and prints
    url = f"sqlite:///{tmp_path / 'cli.db'}"  # srun's database, its schema at the head
    assert _imported_by(*windows, env={"MONITOR_TEST_DB_URL": url}) == []
    # a database to migrate goes through SQLAlchemy (and Alembic): the check above can fail
    fresh = {"MONITOR_TEST_DB_URL": f"sqlite:///{tmp_path / 'fresh.db'}"}
    assert _imported_by(*windows, env=fresh) == ["sqlalchemy"]


# -- exit statuses ------------------------------------------------------------------------------
def _invoke(*args: object, **env: str) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], env=env)


def _unreachable_postgres() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"postgresql+psycopg2://postgres:pw@127.0.0.1:{port}/x"


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    db = {"MONITOR_TEST_DB_URL": f"sqlite:///{tmp_path / 'm.db'}"}
    for args in (
        ["windows", "-c", CONFIG, "-m", "fraud", "--bogus"],  # an unknown option
        ["windows", "-c", tmp_path / "nope.yaml", "-m", "fraud"],  # a missing file
        ["windows", "-c", CONFIG, "-m", "nope"],  # an unknown model
        ["windows", "-c", CONFIG, "-m", "fraud", "--fail-on", "bad"],  # a bad choice
    ):
        result = _invoke(*args, **db)
        assert result.exit_code == 2, (args, result.output)


def test_runtime_errors_exit_1(tmp_path: Path) -> None:
    down = _invoke(
        "windows", "-c", CONFIG, "-m", "fraud", MONITOR_TEST_DB_URL=_unreachable_postgres()
    )
    assert down.exit_code == 1 and down.stderr.startswith("error: ")
    assert "pw@" not in down.stderr
    bad_config = tmp_path / "bad.yaml"
    bad_config.write_text(CONFIG.read_text().replace("window: 2m", "window: soon"))
    config = _invoke("windows", "-c", bad_config, "-m", "fraud", MONITOR_TEST_DB_URL="sqlite://")
    assert config.exit_code == 1 and config.stderr.startswith("error: models.fraud.window: ")
    bad_file = tmp_path / "rows.csv"
    bad_file.write_text("num_00,num_01,num_02,color\n1,x,3,a\n")
    db = f"sqlite:///{tmp_path / 'm.db'}"
    file = _invoke(
        "reference", "build", "-c", CONFIG, "-m", "fraud", bad_file, MONITOR_TEST_DB_URL=db
    )
    assert file.exit_code == 1 and "'x' is not a number" in file.stderr


# -- --fail-on and --format json ----------------------------------------------------------------
def test_fail_on_gates_replay_and_windows(run, reference_csv: Path, events: Path) -> None:
    assert run("reference", "build", "-c", CONFIG, "-m", "fraud", reference_csv).exit_code == 0
    gated = run("replay", "-c", CONFIG, "--no-progress", "--fail-on", "critical", events)
    assert gated.exit_code == 3, gated.output
    assert (
        "\n30000 events" in "\n" + gated.stdout and "failing (--fail-on critical)" in gated.stderr
    )
    windows = ("windows", "-c", CONFIG, "-m", "fraud")
    assert run(*windows, "--fail-on", "critical").exit_code == 3
    # the first two windows are before the drift: a gate on them passes
    assert run(*windows, "--fail-on", "warning", "-f", "num_00").exit_code == 0
    assert run(*windows).exit_code == 0  # no gate, no failure


def test_every_listing_has_json(run, reference_csv: Path, events: Path) -> None:
    build_and_replay(run, reference_csv, events)
    listed = json.loads(run("reference", "list", "-c", CONFIG, "--format", "json").stdout)
    assert [(r["model_id"], r["model_version"], r["version"]) for r in listed] == [
        ("fraud", "*", 1)
    ]
    assert listed[0]["rows"] == 5000 and isinstance(listed[0]["created_at"], str)
    silence = run("alerts", "silence", "-c", CONFIG, "-m", "fraud", "--for", "1h")
    assert silence.exit_code == 0, silence.output
    silences = json.loads(run("alerts", "silences", "-c", CONFIG, "--format", "json").stdout)
    assert [(s["model_id"], s["rule"]) for s in silences] == [("fraud", None)]
    for args in (
        ["windows", "-m", "fraud"],
        ["performance", "-m", "fraud"],
        ["alerts", "list"],
        ["alerts", "outbox"],
    ):
        result = run(*args, "-c", CONFIG, "--format", "json")
        assert result.exit_code == 0 and isinstance(json.loads(result.stdout), list), args


# -- start-up warnings --------------------------------------------------------------------------
def _csv_without_prediction(path: Path) -> Path:
    ref = reference_rows(SPEC, 2000)
    with path.open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow([*ref.numeric_names, *ref.categorical_names])
        for i in range(len(ref)):
            nums = ["" if np.isnan(v) else repr(float(v)) for v in ref.numeric[i]]
            out.writerow([*nums, *(c[i] for c in ref.categorical)])
    return path


def test_replay_warns_of_the_silent_traps(run, tmp_path: Path, events: Path) -> None:
    plain = _csv_without_prediction(tmp_path / "ref.csv")
    assert run("reference", "build", "-c", CONFIG, "-m", "fraud", plain).exit_code == 0
    result = run("replay", "-c", CONFIG, "--no-progress", events)
    assert result.exit_code == 0, result.output
    assert "model 'fraud' has no alert rules" in result.stderr
    assert "models.fraud.rules" in result.stderr  # the hint says where
    assert (
        "the reference of model 'fraud' version '*' has no prediction or score column: "
        "prediction and score drift is skipped"
    ) in result.stderr


def test_preflight_of_a_model_without_reference(db_url: str) -> None:
    from monitor.config import parse_config
    from monitor.preflight import preflight
    from monitor.store import Store

    cfg = parse_config(
        {
            "models": {
                "a": {
                    "features": {"x": {"kind": "numeric"}},
                    "topics": {"labels": "labels"},
                    "rules": [{"name": "d", "kind": "feature_drift", "critical": 0.25}],
                }
            }
        }
    )
    store = Store(db_url)
    store.upgrade()
    assert preflight(cfg, store) == [
        (
            "model 'a' has no reference: its first 10,000 events become it (for a chosen one, "
            "run monitor reference build -m a FILE)"
        )
    ]
    replay = preflight(cfg, store, label_files=False)
    assert replay[-1] == (
        "model 'a' reads labels live (topics.labels) but this replay has no --labels file: no "
        "performance is computed"
    )


def test_monitor_run_warns_of_the_unread_labels_topic(tmp_path: Path, sqlite_url: str) -> None:
    """Through the executable, against a broker of its own (the session's is shared): the SDK's
    labels topic exists, no model reads it; the warnings come once the service is up."""
    from confluent_kafka.admin import AdminClient, NewTopic

    from monitor.kafka.broker import EmbeddedBroker
    from tests.kafka.kit import ServiceProcess, wait_for, write_config

    with EmbeddedBroker() as broker:
        servers = broker.bootstrap_servers
        admin = AdminClient({"bootstrap.servers": servers})
        for future in admin.create_topics([NewTopic("labels", 1, 1)]).values():
            future.result(30)
        config = write_config(
            tmp_path / "m.yaml", db_url=sqlite_url, bootstrap=servers, topic="p", group="g"
        )
        log = tmp_path / "service.log"
        service = ServiceProcess(config, log).start()
        try:
            wait_for(lambda: "/readyz on http" in log.read_text(), 120, "the service to start")
        finally:
            status = service.stop()
    lines = log.read_text().splitlines()
    assert status == 0, lines
    warned = [line.split(": ", 1)[1] for line in lines if " WARNING monitor" in line]
    assert (
        "topic 'labels' exists but no model reads labels (set models.<model>.topics.labels, e.g. "
        "models.demo.topics.labels: labels): labels there are ignored and no performance is "
        "computed"
    ) in warned
    assert any(w.startswith("model 'demo' has no alert rules") for w in warned)


# -- secrets only where they are sent, SQLite beside the config --------------------------------
def test_sink_secrets_are_needed_only_by_the_commands_that_send(tmp_path: Path) -> None:
    config = tmp_path / "m.yaml"
    config.write_text(
        CONFIG.read_text()
        + "alerts:\n  sinks:\n    ops: {type: slack, url: '${MONITOR_TEST_UNSET_SLACK}'}\n"
    )
    env = {"MONITOR_TEST_DB_URL": f"sqlite:///{tmp_path / 'm.db'}"}
    assert "MONITOR_TEST_UNSET_SLACK" not in os.environ
    for args in (["windows", "-m", "fraud"], ["alerts", "list"], ["reference", "list"]):
        result = _invoke(*args, "-c", config, **env)
        assert result.exit_code == 0, (args, result.output)
    for args in (["alerts", "dispatch", "--once"], ["alerts", "test", "ops"]):
        result = _invoke(*args, "-c", config, **env)
        assert result.exit_code == 1, (args, result.output)
        assert result.stderr == (
            "error: alerts.sinks.ops.url: environment variable MONITOR_TEST_UNSET_SLACK is not "
            "set\n"
        )


def test_the_default_database_is_beside_the_config(
    tmp_path: Path, reference_csv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf = tmp_path / "conf"
    conf.mkdir()
    model = yaml.safe_load(CONFIG.read_text())["models"]
    (conf / "monitor.yaml").write_text(yaml.safe_dump({"models": model}))  # no database_url
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    monkeypatch.chdir(tmp_path / "a")
    built = _invoke(
        "reference", "build", "-c", "../conf/monitor.yaml", "-m", "fraud", reference_csv
    )
    assert built.exit_code == 0, built.output
    monkeypatch.chdir(tmp_path / "b")
    listed = _invoke("reference", "list", "-c", conf / "monitor.yaml", "--format", "json")
    assert [r["rows"] for r in json.loads(listed.stdout)] == [5000]
    assert (conf / "monitor.db").exists()
    assert (
        not (tmp_path / "a" / "monitor.db").exists()
        and not (tmp_path / "b" / "monitor.db").exists()
    )


# -- tables show the columns of the model -------------------------------------------------------
def test_tables_show_only_the_columns_of_the_model(tmp_path: Path) -> None:
    env = {"MONITOR_TEST_DB_URL": f"sqlite:///{tmp_path / 'm.db'}"}
    regression = tmp_path / "regression.yaml"
    regression.write_text(
        CONFIG.read_text()
        .replace("prediction: categorical", "prediction: numeric")
        .replace("      color: {kind: categorical}\n", "")
    )
    classifier = _invoke("performance", "-c", CONFIG, "-m", "fraud", **env).stdout.split()
    assert {"accuracy", "roc_auc", "est_accuracy"} <= set(classifier)
    assert not {"mae", "rmse", "r2"} & set(classifier)
    regressor = _invoke("performance", "-c", regression, "-m", "fraud", **env).stdout.split()
    assert {"mae", "rmse", "r2"} <= set(regressor)
    assert not {"accuracy", "roc_auc", "est_accuracy", "f1"} & set(regressor)
    # no categorical column: no chi-square column
    numeric = _invoke("windows", "-c", regression, "-m", "fraud", **env).stdout.split()
    assert "chi2_p" not in numeric and {"psi", "ks", "wasserstein"} <= set(numeric)
    mixed = _invoke("windows", "-c", CONFIG, "-m", "fraud", **env).stdout.split()
    assert "chi2_p" in mixed
