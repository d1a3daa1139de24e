"""`monitor demo` live (what `make demo` runs), short: one line per window and nothing else from
the service or librdkafka, performance realized vs estimated once labels are in, drift caught."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

MONITOR = str(Path(sys.executable).with_name("monitor"))


@pytest.mark.slow
def test_the_live_demo_prints_windows_and_performance_and_no_noise(tmp_path):
    done = subprocess.run(
        [MONITOR, "demo", "--workdir", str(tmp_path / "demo"), "--seconds", "24"]
        + ["--rate", "300"],
        capture_output=True,
        check=False,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    noise = [x for x in lines + done.stderr.splitlines() if re.match(r"%\d\||\d{4}-\d\d-\d\d ", x)]
    assert noise == []  # no librdkafka lines, no log lines (window closed, assigned, revoked)
    windows = [x for x in lines if x.startswith("window demo v1 ")]
    spans = [x.split()[3] for x in windows]
    assert len(windows) >= 3 and len(spans) == len(set(spans))  # each window once
    assert any("DRIFT: " in x and "num_07 (critical: " in x for x in windows)
    performance = [x for x in lines if x.startswith("performance demo v1 ")]
    assert {x.split()[3] for x in performance} == set(spans)  # every window, once its labels came
    assert all(re.search(r"accuracy=\S+ \(estimated \S+\)", x) for x in performance)
    # every prediction of a window got its label (the generator sends those due after the last)
    assert all(re.search(r"labeled=(\d+)/\1 ", x) for x in performance)
    assert "drifted features caught: cat10, num_03, num_07" in done.stdout
