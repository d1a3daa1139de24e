"""``monitor generate``: a live synthetic stream for a configured model, through the SDK.

Features follow the model's config (numeric and categorical as configured); values, scores and
labels come from :mod:`monitor.synth`. Event time is wall-clock time, so windows close as they
would in production. Drift is given as ``FEATURE=SHIFT@AFTER`` (e.g. ``num_03=0.5@2m``): from
``AFTER`` into the run, the feature shifts by SHIFT standard deviations (numeric) or a share
SHIFT of its values becomes an unseen category (categorical); ``num_03=0.5@2m/region=us``
confines it to a segment. Segments are given as ``KEY=V1,V2,...`` (each event takes one of the
values). Labels follow their predictions after ``label_delay``.
"""

from __future__ import annotations

import heapq
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from monitor.client import MonitorClient
from monitor.config import ModelConfig, parse_duration_ms
from monitor.synth import DriftSpec, FeatureSpec, StreamSpec, generate

__all__ = ["GeneratorStats", "parse_drift", "parse_segment", "run_generator", "stream_for"]


@dataclass
class GeneratorStats:
    predictions: int = 0
    labels: int = 0


def parse_drift(text: str, rate: float) -> DriftSpec:
    """``FEATURE=SHIFT@AFTER[/KEY=VALUE]`` with AFTER a duration into the run.

    >>> parse_drift("num_03=0.5@2m", rate=10)
    DriftSpec(feature='num_03', shift=0.5, start=1200, segment=None)
    >>> parse_drift("num_03=0.5@2m/region=us", rate=10).segment
    'region=us'
    """
    try:
        drift, _, segment = text.partition("/")
        feature, rest = drift.split("=", 1)
        shift, after = rest.split("@", 1)
        return DriftSpec(
            feature, float(shift), int(parse_duration_ms(after) / 1000 * rate), segment or None
        )
    except ValueError:
        raise ValueError(
            f"--drift expects FEATURE=SHIFT@AFTER[/KEY=VALUE] such as num_03=0.5@2m, got {text!r}"
        ) from None


def parse_segment(text: str) -> tuple[str, tuple[str, ...]]:
    """``KEY=V1,V2,...``.

    >>> parse_segment("region=eu,us,apac")
    ('region', ('eu', 'us', 'apac'))
    """
    key, _, values = text.partition("=")
    if not key or not values:
        raise ValueError(f"--segment expects KEY=V1,V2,... such as region=eu,us,apac, got {text!r}")
    return key, tuple(values.split(","))


def stream_for(
    model_id: str,
    model: ModelConfig,
    rate: float,
    drift: tuple[DriftSpec, ...],
    seed: int,
    start_ms: int,
    segments: tuple[tuple[str, tuple[str, ...]], ...] = (),
) -> StreamSpec:
    features = tuple(FeatureSpec(name, f.kind) for name, f in model.features.items())
    return StreamSpec(
        features=features,
        model_id=model_id,
        start_ms=start_ms,
        interval_ms=max(1, round(1000 / rate)),
        drift=drift,
        seed=seed,
        segments=segments,
    )


def run_generator(
    client: MonitorClient,
    spec: StreamSpec,
    rate: float,
    *,
    events: int | None = None,
    label_delay_s: float = 30.0,
    label_share: float = 1.0,
    stop: Callable[[], bool] = lambda: False,
    chunk: int = 1000,
) -> GeneratorStats:
    """Produce ``events`` predictions (forever when None) at ``rate`` per second, and their
    labels ``label_delay_s`` later, until ``stop()``."""
    stats = GeneratorStats()
    pending: list[tuple[float, str, int]] = []  # (due wall time, prediction id, label)
    started = time.time()
    offset = 0
    while not stop() and (events is None or offset < events):
        n = chunk if events is None else min(chunk, events - offset)
        cols = generate(spec, n, offset)
        for i in range(n):
            due = started + (offset + i) / rate
            wait = due - time.time()
            if wait > 0:
                time.sleep(wait)
            if stop():
                break
            features = {
                name: _value(cols.numeric[i, j]) for j, name in enumerate(cols.numeric_names)
            }
            features |= {
                name: col[i] for name, col in zip(cols.categorical_names, cols.categorical)
            }
            pid = client.log_prediction(
                features,
                int(cols.prediction[i]),
                score=float(cols.score[i]),
                prediction_id=str(cols.prediction_id[i]),
                timestamp=int(time.time() * 1000),
                segments={key: values[i] for key, values in cols.segments.items()} or None,
            )
            stats.predictions += 1
            if (offset + i) % 1000 < label_share * 1000:
                heapq.heappush(pending, (time.time() + label_delay_s, pid, int(cols.label[i])))
            while pending and pending[0][0] <= time.time():
                _, label_pid, label = heapq.heappop(pending)
                client.log_label(label_pid, label)
                stats.labels += 1
        offset += n
    # The labels still due: an app's labels keep coming after its last prediction.
    while pending and not stop():
        due, label_pid, label = heapq.heappop(pending)
        time.sleep(max(0.0, due - time.time()))
        client.log_label(label_pid, label)
        stats.labels += 1
    client.flush()
    return stats


def _value(x: float) -> float | None:
    return None if math.isnan(x) else float(x)
