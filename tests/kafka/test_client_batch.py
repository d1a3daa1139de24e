"""Through the broker: a batch (a pandas DataFrame as users write one) and the asyncio client
produce events the service decodes exactly as it decodes the single calls' events, in JSON
and in Avro; the async client's waits never hold the event loop, and its background thread
serves delivery reports without the app polling."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import numpy as np
import pandas as pd
import pytest

from monitor.client import AsyncMonitorClient, ClientStats, MonitorClient
from monitor.config import parse_config
from monitor.events import EventDecoder, LabelDecoder
from monitor.exceptions import EventError, KafkaError
from monitor.kafka.avro import AvroDecoder
from monitor.kafka.broker import free_port
from tests.test_sdk_batch import FEATURES

CONFIG = parse_config(
    {"models": {"fraud": {"features": FEATURES, "segments": {"keys": ["region"]}}}}
)
T0 = 1_767_225_600_000
N = 60
COLUMNS = {"prediction": "y_pred", "score": "proba", "prediction_id": "id", "timestamp": "ts"}


def frame(prefix: str) -> pd.DataFrame:
    """Predictions as an app holds them: numpy dtypes, NaN for gaps, a Timestamp column."""
    rng = np.random.default_rng(11)
    amount = rng.normal(100, 20, N)
    amount[::7] = np.nan
    return pd.DataFrame(
        {
            "id": [f"{prefix}{i}" for i in range(N)],
            "ts": pd.to_datetime(T0 + np.arange(N) * 500, unit="ms", utc=True),
            "amount": amount,
            "age": rng.integers(18, 90, N),
            "country": ["DE", "FR", None, "ES"] * (N // 4),
            "new": rng.random(N) > 0.5,
            "y_pred": rng.integers(0, 2, N),
            "proba": rng.random(N),
            "region": ["eu", "us", None] * (N // 3),
            "label": np.where(np.arange(N) % 3 == 0, np.nan, rng.integers(0, 2, N)),
        }
    )


def single_calls(data: pd.DataFrame) -> list[dict[str, Any]]:
    """The keyword arguments of one log_prediction per row, in plain Python values."""
    rows = data.astype(object).where(data.notna(), None).to_dict("records")
    return [
        {
            "features": {k: row[k] for k in ("amount", "age", "country", "new")},
            "prediction": row["y_pred"],
            "score": row["proba"],
            "segments": {"region": row["region"]} if row["region"] else None,
            "prediction_id": row["id"],
            "timestamp": row["ts"],
        }
        for row in rows
    ]


def decode(values: list[bytes], fmt: str, labels: bool = False) -> Any:
    decoder = LabelDecoder(CONFIG) if labels else EventDecoder(CONFIG)
    if fmt == "json":
        decoded = decoder.decode_values(values)
    else:
        decoded = AvroDecoder("label" if labels else "prediction").decode_events(values, decoder)
    assert decoded.errors == []
    return decoded.batches["fraud"]


def same_events(batch: Any, single: Any) -> None:
    """Two decoded batches hold the same events (ids aside, which differ by a prefix)."""
    assert batch.timestamps.tolist() == single.timestamps.tolist()
    np.testing.assert_array_equal(batch.numeric, single.numeric)  # NaN where NaN
    assert batch.categorical == single.categorical
    assert batch.segments == single.segments
    assert batch.has_prediction.tolist() == single.has_prediction.tolist()


def by_offset(messages: list[Any]) -> list[bytes]:
    return [m.value() for m in sorted(messages, key=lambda m: m.offset())]


@pytest.mark.parametrize("fmt", ["json", "avro"])
def test_a_dataframe_batch_decodes_as_the_single_calls(bootstrap, topic_factory, read_topic, fmt):
    batch_topic, single_topic, labels_topic = topic_factory(), topic_factory(), topic_factory()
    options = {"model_id": "fraud", "model_version": "2", "format": fmt, "config": CONFIG}
    with MonitorClient(
        bootstrap, predictions_topic=batch_topic, labels_topic=labels_topic, **options
    ) as client:
        ids = client.log_predictions(frame("b"), **COLUMNS)
        labelled = client.log_labels(frame("b"), prediction_id="id", timestamp="ts")
    with MonitorClient(bootstrap, predictions_topic=single_topic, **options) as client:
        for call in single_calls(frame("s")):
            client.log_prediction(**call)
    assert ids == [f"b{i}" for i in range(N)]
    batch = decode(by_offset(read_topic(batch_topic, N)), fmt)
    single = decode(by_offset(read_topic(single_topic, N)), fmt)
    assert batch.prediction_ids == ids
    same_events(batch, single)
    assert batch.segments[:3] == [{"region": "eu"}, {"region": "us"}, None]

    known = frame("b").dropna(subset=["label"])
    assert labelled == len(known) == N - N // 3
    labels = decode(by_offset(read_topic(labels_topic, labelled)), fmt, labels=True)
    assert labels.prediction_ids == known["id"].tolist()
    assert labels.labels == [str(int(v)) for v in known["label"]]
    assert labels.timestamps.tolist() == [T0 + i * 500 for i in known.index]


def test_the_async_client_decodes_as_the_sync_one(bootstrap, topic_factory, read_topic):
    single_topic, batch_topic, labels_topic = topic_factory(), topic_factory(), topic_factory()
    options = {"model_id": "fraud", "model_version": "2", "config": CONFIG}

    async def app() -> tuple[ClientStats, list[str]]:
        async with AsyncMonitorClient(
            bootstrap, predictions_topic=single_topic, labels_topic=labels_topic, **options
        ) as client:
            for call in single_calls(frame("a")):
                await client.log_prediction(**call)
            await client.log_label("a0", 1, timestamp=T0)
            with pytest.raises(EventError, match="score: expected a number"):
                await client.log_prediction({"amount": 1.0}, prediction=1, score="high")
            # Delivery reports are served by the client's thread: the app never polls.
            deadline = time.monotonic() + 60
            while client.stats.sent < N + 1:
                assert time.monotonic() < deadline, f"delivered: {client.stats}"
                await asyncio.sleep(0.05)
        async with AsyncMonitorClient(bootstrap, predictions_topic=batch_topic, **options) as b:
            ids = await b.log_predictions(frame("b"), **COLUMNS)
            await b.flush()
        return client.stats, ids

    stats, ids = asyncio.run(app())
    assert stats == ClientStats(sent=N + 1, dropped=0, failed=0, pending=0)
    assert ids == [f"b{i}" for i in range(N)]
    with MonitorClient(bootstrap, predictions_topic=(sync := topic_factory()), **options) as c:
        for call in single_calls(frame("s")):
            c.log_prediction(**call)
    reference = decode(by_offset(read_topic(sync, N)), "json")
    async_single = decode(by_offset(read_topic(single_topic, N)), "json")
    async_batch = decode(by_offset(read_topic(batch_topic, N)), "json")
    assert async_single.prediction_ids == [f"a{i}" for i in range(N)]
    same_events(async_single, reference)
    same_events(async_batch, reference)
    (label,) = read_topic(labels_topic, 1)
    assert decode([label.value()], "json", labels=True).labels == ["1"]


def test_the_async_client_waits_without_holding_the_event_loop(caplog):
    """A dead broker, a queue of 5 and on_full='block': each call waits for room up to
    block_timeout, awaiting; a task beside it keeps running meanwhile."""

    async def app() -> tuple[int, ClientStats]:
        client = AsyncMonitorClient(
            f"127.0.0.1:{free_port()}",
            model_id="m",
            model_version="1",
            on_full="block",
            block_timeout=0.3,
            producer_config={"queue.buffering.max.messages": 5, "log_level": 0},
        )
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.001)
                ticks += 1

        task = asyncio.create_task(ticker())
        await asyncio.sleep(0)
        for _ in range(5):  # room for these: no wait
            await client.log_prediction({"x": 1.0}, prediction=1)
        before = ticks
        await client.log_prediction({"x": 1.0}, prediction=1)  # waits 0.3 s, then drops it
        await client.log_predictions([{"x": 2.0}] * 3)  # waits 0.3 s in all, then drops 3
        during = ticks - before
        with pytest.raises(KafkaError, match="4 event\\(s\\) dropped"):
            await client.flush(0)
        task.cancel()
        stats = await client.close(timeout=0)
        assert await client.close() == stats  # closing twice is a no-op
        return during, stats

    during, stats = asyncio.run(app())
    assert during > 0  # the loop ran other tasks while the calls waited
    assert stats == ClientStats(sent=0, dropped=4, failed=5, pending=0)
