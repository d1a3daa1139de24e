"""The SDK's batch call against what an app writes without it: ``to_dict("records")`` and one
``log_prediction`` per row (the yardstick, timed in the same run), with and without validation
against the model's config. 20,000 rows of 20 numeric + 2 categorical features, a prediction, a
score, an id and a datetime column; a dead broker address, so the figures are the SDK's own work
(encode, check, queue), not the network's. Medians of 3 runs, interleaved.

    .venv/bin/python -m bench.sdk_batch
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from monitor.client import MonitorClient
from monitor.config import parse_config
from monitor.kafka.broker import free_port

N = 20_000
FEATURES = {f"num_{i:02d}": {"kind": "numeric"} for i in range(20)} | {
    "cat_a": {"kind": "categorical"},
    "cat_b": {"kind": "categorical"},
}
CONFIG = parse_config({"models": {"m": {"features": FEATURES}}})


def frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    data: dict[str, Any] = {name: rng.normal(size=N) for name in FEATURES if name[:3] == "num"}
    data |= {"cat_a": rng.choice(["a", "b", "c"], N), "cat_b": rng.choice(["x", "y"], N)}
    data |= {"prediction": rng.integers(0, 2, N), "score": rng.random(N)}
    data |= {"prediction_id": [f"p{i}" for i in range(N)]}
    data["timestamp"] = pd.to_datetime(1_767_225_600_000 + np.arange(N), unit="ms")
    return pd.DataFrame(data)


def client(config: Any) -> MonitorClient:
    return MonitorClient(
        f"127.0.0.1:{free_port()}",
        model_id="m",
        model_version="1",
        config=config,
        producer_config={"log_level": 0, "queue.buffering.max.messages": 10 * N},
    )


def single_calls(c: MonitorClient, df: pd.DataFrame) -> None:
    for row in df.to_dict("records"):
        c.log_prediction(
            {name: row[name] for name in FEATURES},
            row["prediction"],
            row["score"],
            prediction_id=row["prediction_id"],
            timestamp=row["timestamp"],
        )


def batch(c: MonitorClient, df: pd.DataFrame) -> None:
    c.log_predictions(df)


def rate(run: Callable[[MonitorClient, pd.DataFrame], None], config: Any, df: Any) -> float:
    c = client(config)
    started = time.perf_counter()
    run(c, df)
    elapsed = time.perf_counter() - started
    c._producer.purge()  # nothing listens: drop the queue rather than wait for it
    c.close(0)
    return N / elapsed


def main() -> None:
    df = frame()
    for name, config in (("without validation", None), ("with validation", CONFIG)):
        runs = [(rate(single_calls, config, df), rate(batch, config, df)) for _ in range(3)]
        single = statistics.median(r[0] for r in runs)
        many = statistics.median(r[1] for r in runs)
        print(
            f"{name}: to_dict + log_prediction per row {single:,.0f}/s (yardstick); "
            f"log_predictions(DataFrame) {many:,.0f}/s = {many / single:.1f}x"
        )


if __name__ == "__main__":
    import logging

    logging.disable(logging.WARNING)  # the dead address's outage warnings
    main()
