"""The SDK's client-side validation (MonitorClient(config=...)): a value the service would turn
into a dead letter raises in the app, naming the field and the kind; what it accepts, the
service's decoder accepts (a property over hostile values), and numpy and pandas values pass."""

from __future__ import annotations

import datetime as dt
import decimal
import math
import subprocess
import sys
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.client import MonitorClient
from monitor.config import parse_config
from monitor.events import EventDecoder, LabelDecoder
from monitor.exceptions import ConfigError, EventError
from tests.test_sdk_batch import FEATURES

CONFIG = parse_config(
    {
        "models": {
            "fraud": {"features": FEATURES},
            "price": {"prediction": "numeric", "features": {"sqm": {"kind": "numeric"}}},
        }
    }
)
T0 = 1_767_225_600_000


def client(model_id: str = "fraud", config: Any = CONFIG, **kwargs: Any) -> MonitorClient:
    """A client whose messages are built, never sent (nothing listens at port 1)."""
    return MonitorClient(
        "127.0.0.1:1",
        model_id=model_id,
        model_version="1",
        config=config,
        producer_config={"log_level": 0},
        **kwargs,
    )


@pytest.fixture
def checked():
    c = client()
    yield c
    c.close(0)


@pytest.mark.parametrize(
    ("call", "reason", "message"),
    [
        (
            {"features": {"amount": decimal.Decimal("1.5")}},
            "wrong_type",
            (
                "features.amount: expected a number or a boolean (a numeric feature), "
                "got Decimal('1.5') (Decimal)"
            ),
        ),
        (
            {"features": {"age": dt.datetime(2026, 1, 1)}},
            "wrong_type",
            (
                "features.age: expected a number or a boolean (a numeric feature), "
                "got datetime.datetime(2026, 1, 1, 0, 0) (datetime)"
            ),
        ),
        ({"features": {"amount": "12.5"}}, "wrong_type", "got '12.5' (str)"),
        ({"score": "high"}, "wrong_type", "score: expected a number, got 'high' (str)"),
        ({"score": True}, "wrong_type", "score: expected a number, got True (bool)"),
        (
            {"features": {"country": dt.date(2026, 1, 1)}},
            "wrong_type",
            "features.country: expected a string, a number or a boolean (a categorical feature)",
        ),
        ({"features": {"country": ["DE"]}}, "wrong_type", "got ['DE'] (list)"),
        ({"features": {"country": "x" * 201}}, "field_too_long", "longer than 200 characters"),
        (
            {"features": {"country": "D\x00E"}},
            "invalid_characters",
            "features.country contains U+0000",
        ),
        ({"features": {"new": 10**250}}, "field_too_long", "as a category is longer than 200"),
        ({"features": {"age": 10**400}}, "wrong_type", "features.age: an integer of about 401"),
        (
            {"features": {"amuont": 1.0, "zzz": 2}},
            "unknown_feature",
            (
                "features.amuont: not a feature of model 'fraud' (did you mean 'amount'?); "
                "features.zzz: not a feature of model 'fraud'; "
                "its features: ['age', 'amount', 'country', 'new']"
            ),
        ),
        ({"features": [("amount", 1.0)]}, "wrong_type", "features: expected a mapping"),
        ({"prediction": dt.datetime(2026, 1, 1)}, "wrong_type", "prediction: expected a string"),
        ({"prediction_id": ""}, "missing_field", "prediction_id: expected a non-empty string"),
        ({"prediction_id": 7}, "wrong_type", "prediction_id: expected a non-empty string"),
        ({"prediction_id": "p" * 201}, "field_too_long", "prediction_id is longer than 200"),
        ({"segments": {"region": 1}}, "wrong_type", "segments: expected strings, got 'region'"),
        ({"segments": {"region": "e\nu"}}, "invalid_characters", "segments.region contains"),
        ({"timestamp": -1}, "timestamp_out_of_range", "timestamp -1 is outside [0, "),
    ],
)
def test_a_wrong_value_raises_naming_the_field_and_the_kind(checked, call, reason, message):
    args = {"features": {"amount": 1.0}, "prediction": 1, "timestamp": T0, **call}
    with pytest.raises(EventError) as caught:
        checked.log_prediction(**args)
    assert caught.value.reason == reason
    assert message in caught.value.detail
    assert checked.stats.pending == 0  # nothing was queued


def test_numeric_predictions_and_labels_by_the_models_task():
    price = client("price")
    with pytest.raises(EventError, match="prediction: expected a number, got 'high' \\(str\\)"):
        price.log_prediction({"sqm": 50}, prediction="high")
    with pytest.raises(EventError, match="prediction: expected a number, got True"):
        price.log_prediction({"sqm": 50}, prediction=True)
    with pytest.raises(EventError, match="label: expected a number \\(a regression label\\)"):
        price.log_label("p1", "expensive")
    with pytest.raises(EventError, match="label must be a finite number, got inf"):
        price.log_label("p1", float("inf"))
    price.log_label("p1", np.float32(1.5))
    price.close(0)
    fraud = client()
    with pytest.raises(EventError, match="label must be a class, got nan"):
        fraud.log_label("p1", float("nan"))
    with pytest.raises(EventError, match="label: expected a string, a number or a boolean"):
        fraud.log_label("p1", decimal.Decimal(1))
    fraud.log_label("p1", np.bool_(True))
    assert fraud.stats.pending == 1
    fraud.close(0)


def test_numpy_and_pandas_values_pass_and_encode_as_the_service_decodes_them(checked):
    features = {
        "amount": np.float32(2.5),
        "age": np.int64(41),
        "country": np.str_("DE"),
        "new": np.bool_(True),
    }
    _, value = checked._prediction(features, np.int64(1), np.float64(0.75), None, None, "a", T0)
    missing = {"amount": pd.NA, "age": np.nan, "country": pd.NA, "new": None}
    _, gaps = checked._prediction(
        missing, pd.NA, np.nan, None, None, "b", pd.Timestamp(T0, unit="ms")
    )
    decoded = EventDecoder(CONFIG).decode_values([value, gaps])
    assert decoded.errors == []
    batch = decoded.batches["fraud"]
    assert batch.numeric[0].tolist() == [2.5, 41.0, 0.75]  # amount, age, score
    assert np.isnan(batch.numeric[1]).all()
    assert batch.categorical == [["DE", None], [True, None], [1, None]]  # country, new, prediction
    assert batch.timestamps.tolist() == [T0, T0]


def test_without_a_config_nothing_is_checked_beyond_encoding():
    plain = client(config=None)
    plain.log_prediction({"anything": "goes", "amount": "12.5"}, prediction=1, score=None)
    with pytest.raises(EventError, match="cannot encode the event as json"):
        plain.log_prediction({"amount": object()}, prediction=1)
    assert plain.stats.pending == 1
    plain.close(0)


def test_the_config_names_a_configured_model():
    with pytest.raises(ConfigError, match="no model 'nope'; configured: \\['fraud', 'price'\\]"):
        client("nope")
    client(config=CONFIG.models["fraud"]).close(0)  # a ModelConfig alone does too
    with pytest.raises(TypeError, match="config must be a Config or a ModelConfig, got dict"):
        client(config={"models": {}})
    with pytest.raises(ValueError, match="model_version contains U\\+0009"):
        MonitorClient("h:1", model_id="fraud", model_version="v\t1", config=CONFIG)


def test_importing_the_sdk_loads_neither_numpy_nor_pandas_nor_the_config():
    code = (
        "import sys, monitor.client; "
        "print([m for m in ('numpy', 'pandas', 'pydantic') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- what the validator accepts, the service accepts; what it refuses, the service refuses ----
_hostile_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=210),
    st.sampled_from(
        [
            decimal.Decimal("1.5"),
            dt.datetime(2026, 1, 1),
            dt.date(2026, 1, 1),
            [1],
            {"a": 1},
            np.float32(0.5),
            np.int64(-3),
            np.bool_(False),
            np.str_("x"),
            pd.NA,
            b"bytes",
            "\ud800",
        ]
    ),
)


def _verdicts(make: Any, plain: Any, decode: Any, args: tuple[Any, ...]) -> tuple[str, str]:
    """(the validator's verdict, the service's verdict on the unvalidated event) as reasons,
    'ok' for accepted."""
    try:
        make(*args)
        mine = "ok"
    except EventError as exc:
        mine = exc.reason
    try:
        _, value = plain(*args)
    except EventError as exc:  # not even encodable: the service never sees it
        return mine, f"unencodable ({exc.reason})"
    except UnicodeEncodeError:
        return mine, "unencodable (surrogate)"
    errors = decode([value]).errors
    return mine, errors[0].reason if errors else "ok"


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    amount=_hostile_values,
    country=_hostile_values,
    prediction=_hostile_values,
    score=_hostile_values,
    pid=st.one_of(st.text(max_size=210), st.sampled_from([None, 5])),
    timestamp=st.integers(min_value=-10, max_value=253_402_300_800_010),
)
def test_the_validator_agrees_with_the_services_decoder(
    amount, country, prediction, score, pid, timestamp
):
    checked, plain = _CLIENTS
    args = ({"amount": amount, "country": country}, prediction, score, None, None, pid, timestamp)
    mine, service = _verdicts(checked._prediction, plain._prediction, _DECODER.decode_values, args)
    if pid is None:  # the single call makes a new id: not a fault
        assert service != "missing_field"
    if mine == "ok":
        assert service == "ok", (args, service)
    elif service == "ok":  # only where the validator is stricter on purpose
        assert pid == "" or _stricter(country) or _stricter(prediction), (args, mine)


def _stricter(value: Any) -> bool:
    """A category the JSON encoder writes as a string nobody meant: the validator refuses it."""
    return isinstance(value, decimal.Decimal | dt.date | bytes)


@settings(max_examples=200, deadline=None)
@given(label=_hostile_values, pid=st.text(min_size=1, max_size=210))
def test_the_label_validator_agrees_with_the_services_decoder(label, pid):
    checked, plain = _CLIENTS
    if label is None:
        return  # the single call refuses a None label with or without a config
    args = (pid, label, T0)
    mine, service = _verdicts(checked._label, plain._label, _LABELS.decode_values, args)
    if mine == "ok":
        assert service == "ok", (args, service)
    elif service == "ok":
        assert _stricter(label), (args, mine)


_CLIENTS = (client(), client(config=None))
_DECODER = EventDecoder(CONFIG)
_LABELS = LabelDecoder(CONFIG)


def test_nan_is_missing_for_the_validator_and_for_the_service():
    checked, _ = _CLIENTS
    _, value = checked._prediction(
        {"amount": math.nan, "country": math.nan}, 1, math.nan, None, None, "a", T0
    )
    decoded = _DECODER.decode_values([value])
    assert decoded.errors == [] and decoded.batches["fraud"].categorical[0] == [None]
