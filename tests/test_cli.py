"""The ``monitor`` command line, through click's CliRunner and as the installed console script.

The config is ``tests/data/fraud.yaml``; its ``database_url`` is ``${MONITOR_TEST_DB_URL}``, set
per test to a fresh SQLite or PostgreSQL database. The reference and event files are the seeded
stream of ``tests/test_replay.py`` (``num_02`` drifts from the middle of the third of five
2-minute windows).
"""

from __future__ import annotations

import csv
import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

from monitor.cli import main
from monitor.synth import DriftSpec, FeatureSpec, StreamSpec, generate, reference_rows, to_jsonl

DATA = Path(__file__).parent / "data"
CONFIG = DATA / "fraud.yaml"
MONITOR = Path(sys.executable).with_name("monitor")  # the console script of this venv

N = 30_000
SPEC = StreamSpec(
    features=(
        FeatureSpec("num_00", "numeric"),
        FeatureSpec("num_01", "numeric", missing_rate=0.05),
        FeatureSpec("num_02", "numeric"),
        FeatureSpec("color", "categorical", levels=5),
    ),
    model_id="fraud",
    model_version="v1",
    interval_ms=20,
    drift=(DriftSpec("num_02", 1.0, 15_000),),
    seed=11,
)
STARTS = [f"2026-01-01T00:{m:02d}:00Z" for m in (0, 2, 4, 6, 8)]
ENDS = [f"2026-01-01T00:{m:02d}:00Z" for m in (2, 4, 6, 8, 10)]
T0 = SPEC.start_ms
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


# -- fixtures -----------------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def _keep_logging():
    """``monitor`` points the root logger at the runner's stderr; put pytest's handlers back."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture(scope="session")
def reference_csv(tmp_path_factory) -> Path:
    ref = reference_rows(SPEC, 5000)
    path = tmp_path_factory.mktemp("reference") / "reference.csv"
    with path.open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow([*ref.numeric_names, *ref.categorical_names, "score", "prediction"])
        for i in range(len(ref)):
            nums = ["" if np.isnan(v) else repr(float(v)) for v in ref.numeric[i]]
            out.writerow(
                [
                    *nums,
                    *(c[i] for c in ref.categorical),
                    repr(float(ref.score[i])),
                    int(ref.prediction[i]),
                ]
            )
    return path


@pytest.fixture(scope="session")
def events(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("events") / "events.jsonl"
    path.write_bytes(to_jsonl(SPEC, generate(SPEC, N)))
    return path


@pytest.fixture
def run(db_url: str):
    """Invoke ``monitor`` in-process against a fresh database of each dialect."""
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(
            main,
            [str(a) for a in args],
            env={"MONITOR_TEST_DB_URL": db_url},
            catch_exceptions=False,
        )

    return invoke


@pytest.fixture
def srun(tmp_path):
    """Invoke ``monitor`` in-process against a fresh SQLite database (for what does not depend
    on the dialect)."""
    return sqlite_runner(tmp_path)


def build_and_replay(run, reference_csv: Path, events: Path):
    assert run("reference", "build", "-c", CONFIG, "-m", "fraud", reference_csv).exit_code == 0
    result = run("replay", "-c", CONFIG, "--no-progress", events)
    assert result.exit_code == 0, result.output
    return run


@pytest.fixture
def replayed(srun, reference_csv: Path, events: Path):
    """A SQLite database holding the reference and the replayed stream."""
    return build_and_replay(srun, reference_csv, events)


def windows_json(run, *args: str) -> list[dict]:
    result = run("windows", "-c", CONFIG, "-m", "fraud", "--format", "json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def sqlite_runner(tmp_path: Path):
    runner = CliRunner()
    env = {"MONITOR_TEST_DB_URL": f"sqlite:///{tmp_path / 'cli.db'}"}
    return lambda *args: runner.invoke(
        main, [str(a) for a in args], env=env, catch_exceptions=False
    )


# -- config validate ----------------------------------------------------------------------------
def test_config_validate_ok(tmp_path):
    result = sqlite_runner(tmp_path)("config", "validate", CONFIG)
    assert result.exit_code == 0
    assert result.stdout == f"{CONFIG}: ok (1 model(s): fraud)\n"


MODEL = """
models:
  fraud:
    window: 1h
    features:
      amount: {kind: numeric}
"""


@pytest.mark.parametrize(
    "edit, message",
    [
        (("window: 1h", "window: 0"), "models.fraud.window: must be positive"),
        (
            ("window: 1h", "window: soon"),
            (
                "models.fraud.window: expected a duration such as '90s', '5m', '1h' or '7d', "
                "got 'soon'"
            ),
        ),
        (
            ("window: 1h", "window: 1h\n    statistics: [psi, hellinger]"),
            "models.fraud.statistics: unknown statistic 'hellinger'",
        ),
        (
            ("window: 1h", "window: 1h\n    thresholds: {wasserstain: {warning: 1, critical: 2}}"),
            "models.fraud.statistics: unknown statistic 'wasserstain'",
        ),
        (
            ("window: 1h", "windw: 1h"),
            "models.fraud.windw: unknown key 'windw', did you mean 'window'?",
        ),
        (
            ("models:", "databse_url: sqlite://\nmodels:"),
            "databse_url: unknown key 'databse_url', did you mean 'database_url'?",
        ),
        (
            ("models:", "database_url: ${MONITOR_TEST_SURELY_UNSET}\nmodels:"),
            "database_url: environment variable MONITOR_TEST_SURELY_UNSET is not set",
        ),
        (
            (
                "models:",
                "kafka:\n  client: {sasl.password: '${MONITOR_TEST_SURELY_UNSET}'}\nmodels:",
            ),
            "kafka.client.sasl.password: environment variable MONITOR_TEST_SURELY_UNSET is not set",
        ),
        (
            ("window: 1h", "window: 1h\n    slide: 7m"),
            "models.fraud.slide: must be positive and divide the window evenly",
        ),
        (
            ("window: 1h", "window: 1h\n    thresholds: {psi: {warning: 0.3, critical: 0.1}}"),
            "models.fraud.thresholds.psi: expected critical >= warning",
        ),
        (
            ("amount: {kind: numeric}", "amount: {kind: text}"),
            "models.fraud.features.amount.kind: Input should be 'numeric' or 'categorical'",
        ),
        (
            ("amount: {kind: numeric}", "score: {kind: numeric}"),
            "models.fraud.features.score: the name is reserved for prediction drift",
        ),
        (
            ("    features:\n      amount: {kind: numeric}\n", "    features: {}\n"),
            "models.fraud.features: at least one feature is needed",
        ),
        (
            (MODEL, "models: {}\nmetrics: {port: 99999}\n"),
            "metrics.port: Input should be less than or equal to 65535",
        ),
        ((MODEL, "database_url: sqlite://\n"), "models: Field required"),
        ((MODEL, "- just\n- a list\n"), "the config must be a mapping at the top level"),
        ((MODEL, "models: [unclosed\n"), "is not valid YAML"),
    ],
)
def test_config_validate_errors_name_the_key(tmp_path, edit, message):
    path = tmp_path / "bad.yaml"
    path.write_text(MODEL.replace(*edit))
    result = sqlite_runner(tmp_path)("config", "validate", path)
    assert result.exit_code == 1  # a runtime error: the file, not the command line, is wrong
    assert result.stdout == ""
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert "Traceback" not in result.stderr


def test_config_validate_of_a_missing_file_is_a_usage_error(tmp_path):
    result = sqlite_runner(tmp_path)("config", "validate", tmp_path / "nope.yaml")
    assert result.exit_code == 2 and "does not exist" in result.stderr


def test_config_validate_substitutes_environment_variables(tmp_path, monkeypatch):
    path = tmp_path / "env.yaml"
    path.write_text(
        "database_url: ${MONITOR_TEST_DB_URL}\nmodels: {a: {features: {x: {kind: "
        "numeric}}}, b: {features: {y: {kind: categorical}}}}\n"
    )
    result = sqlite_runner(tmp_path)("config", "validate", path)
    assert result.exit_code == 0 and result.stdout.endswith("ok (2 model(s): a, b)\n")


# -- db upgrade ---------------------------------------------------------------------------------
def test_db_upgrade_creates_the_schema_and_is_idempotent(run, db_url):
    from sqlalchemy import create_engine, inspect

    first = run("db", "upgrade", "-c", CONFIG)
    assert first.exit_code == 0 and first.stdout.strip().endswith("is at head")
    assert run("db", "upgrade", "--config", CONFIG).exit_code == 0
    engine = create_engine(db_url)
    assert {"windows", "panes", "reference_profiles", "alembic_version"} <= set(
        inspect(engine).get_table_names()
    )
    engine.dispose()


def test_db_upgrade_against_an_unreachable_database(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    runner = CliRunner()
    result = runner.invoke(
        main,
        ["db", "upgrade", "-c", str(CONFIG)],
        env={"MONITOR_TEST_DB_URL": f"postgresql+psycopg2://postgres:pw@127.0.0.1:{port}/x"},
    )
    assert result.exit_code == 1  # the database is away: a runtime error
    assert (
        result.stderr.startswith("error: database migration failed") and "pw@" not in result.stderr
    )


# -- references ---------------------------------------------------------------------------------
def test_reference_build_list_and_versions(run, reference_csv: Path):
    first = run("reference", "build", "-c", CONFIG, "-m", "fraud", reference_csv)
    assert first.exit_code == 0
    assert first.stdout == (
        "reference fraud * version 1: 5000 rows, columns num_00, num_01, num_02, score, "
        "color, prediction\n"
        "column kinds: num_00 numeric, num_01 numeric, num_02 numeric, color categorical, "
        "score numeric, prediction integer\n"
    )
    assert (
        "version 2:" in run("reference", "build", "-c", CONFIG, "-m", "fraud", reference_csv).stdout
    )
    assert (
        "reference fraud v1 version 1:"
        in run("reference", "build", "-c", CONFIG, "-m", "fraud", "-v", "v1", reference_csv).stdout
    )

    listed = run("reference", "list", "-c", CONFIG)
    assert listed.exit_code == 0
    header, *rows = listed.stdout.splitlines()
    assert header.split() == ["model", "version", "profile", "rows", "source", "created"]
    assert [r.split()[:5] for r in rows] == [
        ["fraud", "*", "1", "5000", str(reference_csv)],
        ["fraud", "*", "2", "5000", str(reference_csv)],
        ["fraud", "v1", "1", "5000", str(reference_csv)],
    ]
    assert run("reference", "list", "-c", CONFIG, "-m", "other").stdout.splitlines()[1:] == []


def test_reference_show_table(srun, reference_csv: Path):
    srun("reference", "build", "-c", CONFIG, "-m", "fraud", reference_csv)
    result = srun("reference", "show", "-c", CONFIG, "-m", "fraud")
    assert result.exit_code == 0
    title, header, *rows = result.stdout.splitlines()
    assert title == f"reference fraud * version 1 (5000 rows from {reference_csv})"
    assert header.split() == ["column", "kind", "values", "missing_rate", "profile"]
    cells = {r.split()[0]: r.split() for r in rows}
    assert list(cells) == ["num_00", "num_01", "num_02", "score", "color", "prediction"]
    assert cells["num_00"][1] == "numeric" and "200 bins" in rows[0]
    assert cells["color"][1] == "categorical" and "5 categories: color_0, color_1" in rows[4]
    assert 0.03 < float(cells["num_01"][3]) < 0.07


def test_reference_show_counts_every_reference_value(srun, reference_csv: Path):
    """values + missing = rows for every column (the table reads the stored profile)."""
    srun("reference", "build", "-c", CONFIG, "-m", "fraud", reference_csv)
    rows = srun("reference", "show", "-c", CONFIG, "-m", "fraud").stdout.splitlines()[2:]
    for row in rows:
        _, _, values, missing_rate, *_ = row.split()
        assert round(int(values) / (1 - float(missing_rate))) == 5000, row


def test_reference_show_json(run, reference_csv: Path):
    run("reference", "build", "-c", CONFIG, "-m", "fraud", reference_csv)
    run("reference", "build", "-c", CONFIG, "-m", "fraud", "-v", "v1", reference_csv)
    shown = json.loads(
        run("reference", "show", "-c", CONFIG, "-m", "fraud", "--format", "json").stdout
    )
    assert {k: shown[k] for k in ("model_id", "model_version", "version", "source", "rows")} == {
        "model_id": "fraud",
        "model_version": "*",
        "version": 1,
        "source": str(reference_csv),
        "rows": 5000,
    }
    assert list(shown["columns"]) == ["num_00", "num_01", "num_02", "score", "color", "prediction"]
    num = shown["columns"]["num_00"]
    assert (
        num["kind"] == "numeric"
        and len(num["edges"]) == 201
        and len(num["counts"]) == 200
        and num["missing"] == 0
    )
    assert shown["columns"]["color"]["vocab"][:2] == ["color_0", "color_1"]
    # a version falls back to "*" unless it has its own; --profile picks a profile version
    assert (
        json.loads(
            run(
                "reference", "show", "-c", CONFIG, "-m", "fraud", "-v", "v7", "--format", "json"
            ).stdout
        )["model_version"]
        == "*"
    )
    own = json.loads(
        run(
            "reference",
            "show",
            "-c",
            CONFIG,
            "-m",
            "fraud",
            "-v",
            "v1",
            "--profile",
            "1",
            "--format",
            "json",
        ).stdout
    )
    assert (own["model_version"], own["version"]) == ("v1", 1)


def test_reference_show_without_a_reference(srun):
    result = srun("reference", "show", "-c", CONFIG, "-m", "fraud")
    assert result.exit_code != 0 and "no reference for model 'fraud'" in result.stderr


def test_reference_build_errors(tmp_path, reference_csv: Path):
    run = sqlite_runner(tmp_path)
    unknown = run("reference", "build", "-c", CONFIG, "-m", "nope", reference_csv)
    assert unknown.exit_code == 2  # named on the command line: a usage error
    assert "Invalid value for '--model': no model 'nope'; configured: ['fraud']" in unknown.stderr

    bad = tmp_path / "bad.csv"
    bad.write_text("num_00,num_01,num_02,color\n1,2,3,a\n1,two,3,b\n")
    result = run("reference", "build", "-c", CONFIG, "-m", "fraud", bad)
    assert (
        result.exit_code == 1  # a bad file: a runtime error
        and result.stderr == "error: reference column 'num_01' row 1: 'two' is not a number\n"
    )

    lacking = tmp_path / "lacking.csv"
    lacking.write_text("num_00,num_01,color\n1,2,a\n")
    result = run("reference", "build", "-c", CONFIG, "-m", "fraud", lacking)
    assert result.exit_code == 1 and "['num_02']" in result.stderr

    txt = tmp_path / "rows.txt"
    txt.write_text("x")
    result = run("reference", "build", "-c", CONFIG, "-m", "fraud", txt)
    assert result.exit_code == 1 and "unsupported reference file type '.txt'" in result.stderr


def test_reference_build_from_malformed_jsonl_is_a_clean_error(tmp_path):
    bad = tmp_path / "rows.jsonl"
    bad.write_text('{"num_00": 1, "num_01": 2, "num_02": 3, "color": "a"}\n{"num_00": 1,\n')
    result = CliRunner().invoke(
        main,
        ["reference", "build", "-c", str(CONFIG), "-m", "fraud", str(bad)],
        env={"MONITOR_TEST_DB_URL": f"sqlite:///{tmp_path / 'x.db'}"},
    )
    assert result.exit_code == 1, result.exception
    assert result.stderr.startswith("error: ")


# -- replay and windows -------------------------------------------------------------------------
def test_replay_reports_events_windows_and_drift(run, reference_csv: Path, events: Path):
    run("reference", "build", "-c", CONFIG, "-m", "fraud", reference_csv)
    result = run("replay", "-c", CONFIG, "--no-progress", events)
    assert result.exit_code == 0
    *drifts, summary = result.stdout.splitlines()  # each drifted window as it closes
    assert re.fullmatch(
        r"30000 events in \d+\.\d\d s \([\d,]+ events/s\); 5 windows closed, 3 with drift", summary
    )
    assert len(drifts) == 3
    assert drifts[0].startswith(
        f"window fraud v1 {STARTS[2]}..{ENDS[2][11:]} events=6000   DRIFT: num_02 (critical: "
    )  # the line `monitor run` prints (monitor.format.window_lines)
    assert all("num_02" in line for line in drifts)


def test_windows_json_contract(run, reference_csv: Path, events: Path):
    out = windows_json(build_and_replay(run, reference_csv, events))
    assert isinstance(out, list) and len(out) == 5 * 6
    numeric_stats = {"psi", "ks", "ks_pvalue", "js", "wasserstein"}
    categorical_stats = {"psi", "chi2", "chi2_pvalue", "js"}
    for w in out:
        assert {
            "model_id",
            "model_version",
            "feature",
            "window_start",
            "window_end",
            "count",
            "missing",
            "statistics",
            "drift",
            "severity",
        } <= w.keys()
        assert (w["model_id"], w["model_version"]) == ("fraud", "v1")
        assert ISO.match(w["window_start"]) and ISO.match(w["window_end"])
        assert isinstance(w["count"], int) and isinstance(w["missing"], int) and w["count"] == 6000
        assert isinstance(w["drift"], bool) and w["severity"] in ("ok", "warning", "critical")
        assert isinstance(w["statistics"], dict)
        if w["feature"] in ("num_00", "num_01", "num_02", "score"):
            assert w["kind"] == "numeric" and numeric_stats <= w["statistics"].keys()
        else:
            assert w["kind"] == "categorical" and categorical_stats <= w["statistics"].keys()
        assert all(v is None or isinstance(v, float) for v in w["statistics"].values())
        assert w["late"] == 0 and w["reference_version"] == 1 and w["baseline"] is False
    assert [(w["window_start"], w["window_end"]) for w in out if w["feature"] == "num_02"] == list(
        zip(STARTS, ENDS)
    )
    drift = {(w["feature"], w["window_start"]): (w["drift"], w["severity"]) for w in out}
    assert [drift["num_02", s] for s in STARTS] == [
        (False, "ok"),
        (False, "ok"),
        (True, "critical"),
        (True, "critical"),
        (True, "critical"),
    ]
    assert not any(drift[f, s][0] for f in ("num_00", "num_01", "color") for s in STARTS)


def test_windows_feature_version_and_since_filters(replayed):
    num_02 = windows_json(replayed, "--feature", "num_02")
    assert [w["feature"] for w in num_02] == ["num_02"] * 5
    assert [
        w["window_start"]
        for w in windows_json(replayed, "-f", "color", "--since", str(T0 + 240_000))
    ] == STARTS[2:]
    assert [
        w["window_start"]
        for w in windows_json(replayed, "-f", "color", "--since", str(T0 + 240_001))
    ] == STARTS[2:]
    assert [
        w["window_start"]
        for w in windows_json(replayed, "-f", "color", "--since", str(T0 + 239_999))
    ] == STARTS[1:]
    assert [
        w["window_start"]
        for w in windows_json(replayed, "-f", "color", "--since", "2026-01-01T00:07:00Z")
    ] == STARTS[3:]
    assert [
        w["window_start"]
        for w in windows_json(replayed, "-f", "color", "--since", "2026-01-01T01:07:00+01:00")
    ] == STARTS[3:]
    assert [
        w["window_start"]
        for w in windows_json(replayed, "-f", "color", "--since", "2026-01-01T00:07:00")
    ] == STARTS[3:]  # naive = UTC
    assert (
        windows_json(replayed, "--since", "1h") == []
    )  # the stream is from 2026-01-01, long before now - 1h
    assert len(windows_json(replayed, "--since", "100000h")) == 30
    assert (
        len(windows_json(replayed, "-v", "v1")) == 30 and windows_json(replayed, "-v", "v2") == []
    )
    unknown = replayed("windows", "-c", CONFIG, "-m", "fraud", "-f", "nope")
    assert unknown.exit_code == 2 and "no feature 'nope'" in unknown.output  # not an empty list


def test_windows_rejects_an_unreadable_since(replayed):
    result = replayed("windows", "-c", CONFIG, "-m", "fraud", "--since", "last tuesday")
    assert result.exit_code == 2 and "neither a time, epoch ms nor a duration" in result.stderr


def test_windows_of_an_unknown_model(replayed):
    result = replayed("windows", "-c", CONFIG, "-m", "nope")
    assert result.exit_code == 2 and "Invalid value for '--model': no model 'nope'" in result.stderr


def test_windows_table(replayed):
    result = replayed("windows", "-c", CONFIG, "-m", "fraud", "--feature", "num_02")
    assert result.exit_code == 0
    header, *rows = result.stdout.splitlines()
    assert header.split() == [
        "window_start",
        "version",
        "feature",
        "count",
        "missing",
        "psi",
        "ks",
        "js",
        "chi2_p",
        "wasserstein",
        "severity",
        "decided_by",
    ]
    assert [r.split()[0] for r in rows] == STARTS
    assert all(r.split()[1:5] == ["v1", "num_02", "6000", "0"] for r in rows)
    assert [r.split()[10] for r in rows] == ["ok", "ok", "critical", "critical", "critical"]
    # decided_by: "statistic=value >= threshold" when critical, "< warning" when ok
    assert all(re.fullmatch(r"\w+=\S+ >= \S+", " ".join(r.split()[11:])) for r in rows[2:])
    assert all(r.split()[8] == "-" for r in rows)  # no chi-square on a numeric feature
    color = replayed("windows", "-c", CONFIG, "-m", "fraud", "-f", "color").stdout.splitlines()[1:]
    assert all(
        r.split()[6] == "-" and r.split()[8] != "-" for r in color
    )  # no KS on a categorical one


def test_replay_twice_and_resume_give_the_same_windows(run, reference_csv: Path, events: Path):
    replayed = build_and_replay(run, reference_csv, events)
    before = windows_json(replayed)
    again = replayed("replay", "-c", CONFIG, "--no-progress", events)
    assert again.exit_code == 0 and "\n30000 events" in "\n" + again.stdout
    assert windows_json(replayed) == before
    resumed = replayed("replay", "-c", CONFIG, "--no-progress", "--resume", events)
    assert (
        resumed.exit_code == 0
        and resumed.stdout.startswith("0 events")
        and "0 windows closed" in resumed.stdout
    )
    assert windows_json(replayed) == before


def test_replay_counts_and_dead_letters_rejected_events(
    tmp_path, reference_csv: Path, events: Path
):
    run = sqlite_runner(tmp_path)
    run("reference", "build", "-c", CONFIG, "-m", "fraud", reference_csv)
    lines = events.read_bytes().splitlines(keepends=True)[:6000]
    lines.insert(3, b"{broken\n")
    lines.insert(7, b'{"model_id": "other", "model_version": "v1"}\n')
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b"".join(lines))
    dead = tmp_path / "dead.jsonl"
    result = run("replay", "-c", CONFIG, "--no-progress", "--dead-letters", dead, path)
    assert result.exit_code == 0
    assert result.stdout.splitlines()[1] == "rejected: invalid_json=1, unknown_model=1"
    letters = [json.loads(line) for line in dead.read_text().splitlines()]
    assert [(d["offset"], d["reason"], d["event"]) for d in letters] == [
        (3, "invalid_json", "{broken"),
        (7, "unknown_model", '{"model_id": "other", "model_version": "v1"}'),
    ]


def test_replay_progress_bar_goes_to_stderr(tmp_path, reference_csv: Path, events: Path):
    run = sqlite_runner(tmp_path)
    run("reference", "build", "-c", CONFIG, "-m", "fraud", reference_csv)
    result = run("replay", "-c", CONFIG, events)
    assert result.exit_code == 0 and "\n30000 events" in "\n" + result.stdout


def test_replay_of_a_missing_file_is_a_usage_error(tmp_path):
    result = sqlite_runner(tmp_path)("replay", "-c", CONFIG, tmp_path / "nope.jsonl")
    assert result.exit_code == 2 and "does not exist" in result.stderr


# -- the installed console script ---------------------------------------------------------------
def _monitor(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(MONITOR), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **env},
    )


def test_console_script_config_validate(tmp_path):
    ok = _monitor("config", "validate", CONFIG, MONITOR_TEST_DB_URL="sqlite://")
    assert ok.returncode == 0 and ok.stdout == f"{CONFIG}: ok (1 model(s): fraud)\n"
    bad = tmp_path / "bad.yaml"
    bad.write_text(MODEL.replace("window: 1h", "window: -1h"))
    failed = _monitor("config", "validate", bad)
    assert failed.returncode == 1 and failed.stdout == ""
    assert (
        failed.stderr.startswith("error: models.fraud.window: ")
        and "Traceback" not in failed.stderr
    )


def test_console_script_demo_catches_the_injected_drift(tmp_path):
    workdir = tmp_path / "demo"
    live_db = workdir / "demo.db"  # the live demo's, in the same workdir: the replay keeps it
    workdir.mkdir()
    live_db.write_bytes(b"live")
    result = _monitor("demo", "--replay", "--events", "60000", "--workdir", workdir)
    assert live_db.read_bytes() == b"live"
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert (
        "drift injected at 2026-01-01T01:00:00Z into num_03 (0.5), num_07 (1), cat10 "
        "(0.3), and num_12 (0.5) in region=us only"
    ) in out
    assert "replayed 60,000 events" in out and "10 windows closed" in out
    assert "drifted features caught: cat10, num_03, num_07 (injected: cat10, num_03, num_07)" in out
    # The segment-only drift: too diluted for the whole population, caught in its segment.
    assert "num_12 drift caught in segment(s): region=us (injected: region=us only)" in out
    segment_lines = [line for line in out.splitlines() if line.startswith("  segment ")]
    assert segment_lines == ["  segment region=us: DRIFT there only: num_12"] * 4
    window_lines = [line for line in out.splitlines() if line.startswith("window demo v1 ")]
    assert len(window_lines) == 10
    assert all(line.endswith("ok") for line in window_lines[:6])
    assert all(
        "DRIFT: " in line and "num_07 (critical: " in line and "cat10 (critical: " in line
        for line in window_lines[6:]
    )

    shown = _monitor(
        "windows",
        "--config",
        workdir / "replay" / "monitor.yaml",
        "--model",
        "demo",
        "--feature",
        "num_07",
        "--format",
        "json",
    )
    assert shown.returncode == 0, shown.stderr
    num_07 = json.loads(shown.stdout)
    assert [w["drift"] for w in num_07] == [False] * 6 + [True] * 4
    assert {w["severity"] for w in num_07[6:]} == {"critical"}
