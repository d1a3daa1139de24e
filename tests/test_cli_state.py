"""``monitor state reset`` and what ``monitor replay`` says about late events, as a user runs
them."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from tests.test_cli import CONFIG, _keep_logging, events, reference_csv, sqlite_runner, srun  # noqa: F401 (fixtures)


def test_a_changed_window_is_refused_until_the_model_is_reset(
    srun, reference_csv: Path, events: Path, tmp_path: Path
) -> None:
    assert srun("reference", "build", "-c", CONFIG, "-m", "fraud", reference_csv).exit_code == 0
    assert srun("replay", "-c", CONFIG, "--no-progress", events).exit_code == 0
    wider = tmp_path / "wider.yaml"
    cfg = yaml.safe_load(CONFIG.read_text())
    cfg["models"]["fraud"]["window"] = "4m"
    wider.write_text(yaml.safe_dump(cfg))

    refused = srun("replay", "-c", wider, "--no-progress", "--resume", events)
    assert refused.exit_code == 1  # the config changed under the checkpoint: a runtime error
    assert "models.fraud.window: changed from 120000 to 240000 ms" in refused.output
    assert "monitor state reset" in refused.output

    reset = srun("state", "reset", "-c", wider, "--job", "replay", "--model", "fraud")
    assert reset.exit_code == 0 and "reset the open windows of fraud in job replay" in reset.output
    assert srun("replay", "-c", wider, "--no-progress", "--resume", events).exit_code == 0


def test_state_reset_of_an_unknown_model_names_the_models(srun) -> None:
    result = srun("state", "reset", "-c", CONFIG, "--model", "nope")
    assert result.exit_code == 2 and "no model 'nope'" in result.output


def test_replay_reports_late_events(
    srun, reference_csv: Path, events: Path, tmp_path: Path
) -> None:
    lines = events.read_bytes().splitlines(keepends=True)
    # 50 events of the last minute moved to the first: their window closed long before.
    late = [re.sub(rb'"timestamp":\d+', b'"timestamp":1767225601000', line) for line in lines[-50:]]
    path = tmp_path / "late.jsonl"
    path.write_bytes(b"".join(lines[:-50] + late))
    assert srun("reference", "build", "-c", CONFIG, "-m", "fraud", reference_csv).exit_code == 0
    result = srun("replay", "-c", CONFIG, "--no-progress", path)
    assert result.exit_code == 0
    assert "late: fraud=50" in result.stdout
    assert "allowed_lateness" in result.stderr
