"""The SDK's batch calls (log_predictions, log_labels): each row becomes the very message the
single call makes of it, from a list of records or from a pandas DataFrame as users write them
(numpy int64/float64, pandas booleans, NaN for missing, a Timestamp column); columns mapped as
the single call names its arguments or as the model's config maps them; a bad row raises with
its row number before anything is queued; a full local queue drops and counts, as one call."""

from __future__ import annotations

import logging
from itertools import chain
from typing import Any

import msgspec
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.client import ClientStats, MonitorClient
from monitor.config import parse_config
from monitor.events import EventDecoder, LabelDecoder
from monitor.exceptions import EventError
from monitor.kafka.broker import free_port

#: The features of the SDK tests' model (tests/test_sdk_validate.py and the Kafka ones too).
FEATURES = {
    "amount": {"kind": "numeric"},
    "age": {"kind": "numeric"},
    "country": {"kind": "categorical"},
    "new": {"kind": "categorical"},
}
CONFIG = parse_config({"models": {"fraud": {"features": FEATURES}}})
T0 = 1_767_225_600_000


def client(config: Any = None, **kwargs: Any) -> MonitorClient:
    """A client whose messages are built, never sent (nothing listens there)."""
    return MonitorClient(
        f"127.0.0.1:{free_port()}",
        model_id="fraud",
        model_version="1",
        config=config,
        producer_config={"log_level": 0, **kwargs.pop("producer_config", {})},
        **kwargs,
    )


def batch_messages(c: MonitorClient, data: Any, **columns: Any) -> list[tuple[str, bytes]]:
    defaults = dict.fromkeys(
        ("features", "prediction", "score", "prediction_id", "timestamp", "segments")
    )
    chunks = c._predictions(data, *{**defaults, **columns}.values())
    return [message for chunk in chunks for message in chunk]


def users_frame(n: int = 12) -> pd.DataFrame:
    """A DataFrame as an app builds one: numpy dtypes, NaN for a gap, a Timestamp column."""
    rng = np.random.default_rng(3)
    amount = rng.normal(100, 20, n)
    amount[::5] = np.nan
    return pd.DataFrame(
        {
            "id": [f"p{i}" for i in range(n)],
            "ts": pd.to_datetime(T0 + np.arange(n) * 1000, unit="ms"),  # naive: UTC
            "amount": amount,  # float64 with NaN
            "age": rng.integers(18, 90, n),  # int64
            "country": pd.Series(["DE", "FR", None] * (n // 3)),  # NaN in pandas' strings
            "new": rng.random(n) > 0.5,  # numpy bool
            "y_pred": rng.integers(0, 2, n),
            "proba": rng.random(n),
            "region": ["eu", "us", "eu", None] * (n // 4),
        }
    )


def single_messages(c: MonitorClient, frame: pd.DataFrame) -> list[tuple[str, bytes]]:
    """What the single call makes of each row, from plain Python values (None where missing)."""
    out = []
    for row in frame.astype(object).where(frame.notna(), None).to_dict("records"):
        features = {name: row[name] for name in ("amount", "age", "country", "new")}
        segments = {"region": row["region"]} if row["region"] is not None else None
        out.append(
            c._prediction(
                features, row["y_pred"], row["proba"], None, segments, row["id"], row["ts"]
            )
        )
    return out


COLUMNS = {
    "prediction": "y_pred",
    "score": "proba",
    "prediction_id": "id",
    "timestamp": "ts",
    "segments": ["region"],
}


@pytest.mark.parametrize("config", [None, CONFIG], ids=["plain", "validated"])
def test_a_dataframe_makes_the_messages_of_the_single_calls(config):
    c = client(config)
    frame = users_frame()
    batch = batch_messages(c, frame, **COLUMNS)
    assert batch == single_messages(c, frame)  # byte for byte, keys included
    decoded = EventDecoder(CONFIG).decode_values([value for _, value in batch])
    assert decoded.errors == []
    out = decoded.batches["fraud"]
    assert out.prediction_ids == frame["id"].tolist()
    assert out.timestamps.tolist() == [T0 + i * 1000 for i in range(len(frame))]
    np.testing.assert_array_equal(out.numeric[:, 0], frame["amount"])  # NaN where it was
    assert out.categorical[0] == ["DE", "FR", None] * 4
    assert out.categorical[1] == frame["new"].tolist()
    assert out.segments == [{"region": "eu"}, {"region": "us"}, {"region": "eu"}, None] * 3
    c.close(0)


def test_pandas_nullable_and_tz_aware_columns():
    frame = pd.DataFrame(
        {
            "prediction_id": ["a", "b", "c"],
            "timestamp": pd.to_datetime([T0, T0 + 1, None], unit="ms", utc=True),
            "amount": pd.array([1, None, 3], dtype="Int64"),
            "new": pd.array([True, None, False], dtype="boolean"),
            "country": pd.Categorical(["DE", None, "FR"]),
            "prediction": [1, 0, 1],
        }
    )
    c = client(CONFIG)
    messages = batch_messages(c, frame)
    records = [msgspec.json.decode(value) for _, value in messages]
    assert [r["features"] for r in records] == [
        {"amount": 1, "new": True, "country": "DE"},
        {"amount": None, "new": None, "country": None},
        {"amount": 3, "new": False, "country": "FR"},
    ]
    assert [r["timestamp"] for r in records[:2]] == [T0, T0 + 1]
    assert records[2]["timestamp"] > T0  # NaT: now, as timestamp=None in the single call
    assert EventDecoder(CONFIG).decode_values([value for _, value in messages]).errors == []
    c.close(0)


_values = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**6), 10**6), st.floats(), st.text(max_size=5)
)


@settings(max_examples=100, deadline=None)
@given(
    rows=st.lists(
        st.fixed_dictionaries(
            {
                "prediction_id": st.text(min_size=1, max_size=8),
                "timestamp": st.integers(0, 2**40),
                "y": _values,
                "prediction": _values,
            },
            optional={"x": _values, "score": st.floats()},  # absent from some rows, or all
        ),
        max_size=30,
    )
)
def test_records_make_the_messages_of_the_single_calls(rows):
    batch = batch_messages(_PLAIN, rows)
    roles = {"prediction_id", "timestamp", "prediction", "score"}
    features = [name for name in dict.fromkeys(chain.from_iterable(rows)) if name not in roles]
    expected = [
        _PLAIN._prediction(
            {name: row.get(name) for name in features},
            row["prediction"],
            row.get("score"),
            None,
            None,
            row["prediction_id"],
            row["timestamp"],
        )
        for row in rows
    ]
    assert batch == expected


_PLAIN = client()


def test_the_models_column_mapping_and_sources_are_the_defaults():
    config = parse_config(
        {
            "models": {
                "fraud": {
                    "features": {**FEATURES, "amount": {"kind": "numeric", "source": "amt"}},
                    "columns": {"prediction": "y_pred", "score": "proba", "timestamp": "ts"},
                    "segments": {"keys": ["region"]},
                }
            }
        }
    )
    frame = users_frame().rename(columns={"amount": "amt", "id": "prediction_id"})
    frame["label"] = 1  # columns the model does not know are not features
    frame["customer"] = "Jane"
    c = client(config)
    assert batch_messages(c, frame) == single_messages(
        c, frame.rename(columns={"amt": "amount", "prediction_id": "id"})
    )
    c.close(0)


def test_columns_that_are_not_there_are_errors_naming_them():
    c = client()
    rows = [{"amount": 1.0, "prediction": 1}]
    with pytest.raises(ValueError, match="score column 'proba' is not in the data; columns: "):
        c.log_predictions(rows, score="proba")
    with pytest.raises(ValueError, match="feature columns \\['amt'\\] not in the data"):
        c.log_predictions(rows, features=["amount", "amt"])
    with pytest.raises(ValueError, match="segment columns \\['region'\\] not in the data"):
        c.log_predictions(rows, segments=["region"])
    with pytest.raises(TypeError, match="expected records .* or a DataFrame, got a dict"):
        c.log_predictions({"amount": [1.0]})
    with pytest.raises(TypeError, match="a record must be a mapping of column to value, got tuple"):
        c.log_predictions([("amount", 1.0)])
    with pytest.raises(ValueError, match="no label column in the data \\(pass label='COLUMN'\\)"):
        c.log_labels([{"prediction_id": "a", "y": 1}])
    assert c.log_predictions([]) == [] and c.stats.pending == 0
    c.close(0)


def test_a_bad_row_raises_with_its_number_and_nothing_is_queued():
    c = client(CONFIG)
    rows = [{"amount": float(i), "prediction": 1} for i in range(2500)]
    rows[2100]["amount"] = "12,5"
    with pytest.raises(EventError, match="row 2100: features.amount: expected a number"):
        c.log_predictions(rows)
    rows[2100]["amount"] = None
    rows[1500]["prediction_id"] = None  # an id column with a gap: a mistake the config catches
    for i, row in enumerate(rows):
        row.setdefault("prediction_id", f"p{i}")
    with pytest.raises(EventError, match="missing_field: row 1500: prediction_id"):
        c.log_predictions(rows)
    rows[10]["ts"] = "yesterday"
    with pytest.raises(TypeError, match="row 10: timestamp must be epoch milliseconds"):
        c.log_predictions(rows, timestamp="ts")
    assert c.stats == ClientStats(0, 0, 0, 0)
    c.close(0)
    plain = client()  # without a config, as the single call with prediction_id=None: a new id
    ids = plain.log_predictions([{"prediction_id": None, "x": 1}, {"prediction_id": 7, "x": 2}])
    assert len(ids[0]) == 32 and ids[1] == "7"
    plain.close(0)


def test_labels_from_a_dataframe_skip_the_unknown_and_match_the_single_calls():
    frame = pd.DataFrame(
        {
            "id": np.arange(5),  # integer ids are spelled as the batch of predictions spells them
            "label": [1.0, np.nan, 0.0, 1.0, np.nan],  # NaN: not known yet
            "ts": pd.to_datetime(T0 + np.arange(5), unit="ms"),
        }
    )
    c = client(CONFIG)
    chunks = c._labels(frame, "id", None, "ts")
    batch = [message for chunk in chunks for message in chunk]
    single = [c._label(str(i), float(label), T0 + i) for i, label in ((0, 1), (2, 0), (3, 1))]
    assert batch == single
    decoded = LabelDecoder(CONFIG).decode_values([value for _, value in batch])
    assert decoded.batches["fraud"].labels == ["1", "0", "1"]
    assert c.log_labels(frame, prediction_id="id", timestamp="ts") == 3
    assert c.stats.pending == 3
    c.close(0)


def test_a_full_queue_drops_the_rest_of_a_batch_and_warns_once(caplog):
    caplog.set_level(logging.WARNING, logger="monitor.client")
    rows = [{"x": float(i)} for i in range(2_500)]
    for on_full in ("drop", "block"):
        c = client(
            on_full=on_full,
            block_timeout=0.2,
            producer_config={"queue.buffering.max.messages": 50},
        )
        ids = c.log_predictions(rows)
        assert len(ids) == 2_500  # every row has its id, queued or not
        assert c.stats == ClientStats(sent=0, dropped=2_450, failed=0, pending=50)
        c.close(0)
    outages = [r for r in caplog.records if "logged again when delivery resumes" in r.message]
    assert len(outages) == 2  # one per client (per outage), not one per event
    assert "the local queue is full (50 events)" in outages[0].message
