"""`monitor generate` against the embedded Tansu broker: predictions and labels through the SDK,
with segments and a drift confined to one of them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import yaml

MONITOR = str(Path(sys.executable).with_name("monitor"))


def test_generate_produces_segmented_predictions_and_their_labels(
    tmp_path, bootstrap, topic_factory, read_topic
):
    predictions, labels = topic_factory(2), topic_factory(2)
    config = tmp_path / "monitor.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "kafka": {"bootstrap_servers": bootstrap},
                "models": {
                    "m": {
                        "features": {"x": {"kind": "numeric"}, "c": {"kind": "categorical"}},
                        "topics": {"predictions": predictions, "labels": labels},
                        "segments": {"keys": ["region"]},
                    }
                },
            }
        )
    )
    result = subprocess.run(
        [
            MONITOR,
            "generate",
            "-c",
            str(config),
            "--rate",
            "2000",
            "--events",
            "600",
            "--label-delay",
            "0s",
            "--segment",
            "region=eu,us",
            "--drift",
            "x=3@0s/region=us",
        ],
        capture_output=True,
        check=False,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "produced 600 predictions and 600 labels" in result.stdout
    events = [json.loads(m.value()) for m in read_topic(predictions, 600)]
    assert {e["segments"]["region"] for e in events} == {"eu", "us"}
    x = {
        r: np.array([e["features"]["x"] for e in events if e["segments"]["region"] == r])
        for r in ("eu", "us")
    }
    assert x["us"].mean() - x["eu"].mean() > 2 * x["eu"].std()  # the drift lives in region=us only
    assert {json.loads(m.value())["prediction_id"] for m in read_topic(labels, 600)} == {
        e["prediction_id"] for e in events
    }


def test_generate_refuses_a_malformed_segment(tmp_path, bootstrap):
    config = tmp_path / "monitor.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "kafka": {"bootstrap_servers": bootstrap},
                "models": {"m": {"features": {"x": {"kind": "numeric"}}}},
            }
        )
    )
    result = subprocess.run(
        [MONITOR, "generate", "-c", str(config), "--events", "1", "--segment", "region"],
        capture_output=True,
        check=False,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "--segment expects KEY=V1,V2,..." in result.stderr


class _Recorder:
    """Records what the generator sends (a unit test of its schedule, not of the SDK)."""

    def __init__(self) -> None:
        self.predictions: list[str] = []
        self.labels: list[str] = []

    def log_prediction(self, features, prediction, **kw) -> str:
        self.predictions.append(kw["prediction_id"])
        return kw["prediction_id"]

    def log_label(self, prediction_id: str, label: int) -> None:
        self.labels.append(prediction_id)

    def flush(self) -> None:
        pass


def test_labels_still_due_after_the_last_prediction_are_sent():
    from monitor.generate import run_generator
    from monitor.synth import StreamSpec, default_features

    client = _Recorder()
    spec = StreamSpec(features=default_features()[:2], model_id="m")
    stats = run_generator(client, spec, 2000, events=50, label_delay_s=0.3)  # type: ignore[arg-type]
    assert (stats.predictions, stats.labels) == (50, 50)
    assert sorted(client.labels) == sorted(client.predictions)
