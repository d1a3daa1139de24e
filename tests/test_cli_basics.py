"""`--version`, the config from ``MONITOR_CONFIG``, and unknown feature names as errors."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from monitor.cli import main
from tests.test_cli import CONFIG, _keep_logging, events, reference_csv, srun  # noqa: F401 (fixtures)


def test_version() -> None:
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0 and result.output.startswith("monitor, version ")


def test_the_config_comes_from_monitor_config(tmp_path: Path) -> None:
    env = {"MONITOR_CONFIG": str(CONFIG), "MONITOR_TEST_DB_URL": f"sqlite:///{tmp_path / 'm.db'}"}
    result = CliRunner().invoke(main, ["windows", "-m", "fraud", "--format", "json"], env=env)
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "[]"


def test_an_unknown_feature_is_an_error(srun, reference_csv: Path, events: Path) -> None:
    assert srun("reference", "build", "-c", CONFIG, "-m", "fraud", reference_csv).exit_code == 0
    assert srun("replay", "-c", CONFIG, "--no-progress", events).exit_code == 0
    result = srun("windows", "-c", CONFIG, "-m", "fraud", "-f", "nosuchfeature")
    assert result.exit_code == 2
    assert "no feature 'nosuchfeature'" in result.output and "num_00" in result.output
    ok = srun("windows", "-c", CONFIG, "-m", "fraud", "-f", "num_00", "--format", "json")
    assert ok.exit_code == 0 and "num_00" in ok.output
