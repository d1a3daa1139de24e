"""Events as bytes: the three event structs, their JSON and Avro encoders, and event time.

numpy and pandas are never imported here (an app that logs plain Python values does not pay
for them): their scalars are recognised by duck typing, and pandas' missing markers by identity
with the objects of an already imported pandas.

>>> import datetime as dt
>>> epoch_ms(dt.datetime(2026, 1, 1)), epoch_ms(1_767_225_600_000)  # naive = UTC
(1767225600000, 1767225600000)
>>> encode = json_encoder()
>>> encode(Label("fraud", "p1", True, 5))
b'{"model_id":"fraud","prediction_id":"p1","label":true,"timestamp":5}'
"""

from __future__ import annotations

import datetime as dt
import io
import math
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

import msgspec

__all__ = [
    "Encode",
    "Features",
    "Label",
    "Prediction",
    "Timestamp",
    "Value",
    "epoch_ms",
    "is_missing",
    "json_encoder",
    "native",
    "raw_avro",
    "registry_avro",
]

Value = float | int | str | bool | None
Timestamp = dt.datetime | int | None
#: An encoder of one event (a struct for JSON, its fields as a dict for Avro).
Encode = Callable[[Any], bytes]

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MS = dt.timedelta(milliseconds=1)


class Prediction(msgspec.Struct, omit_defaults=True, gc=False):
    model_id: str
    model_version: str
    prediction_id: str
    timestamp: int
    features: Mapping[str, Any]
    prediction: Any = None
    score: float | None = None
    scores: Mapping[str, float] | None = None
    segments: Mapping[str, str] | None = None


class Features(msgspec.Struct, omit_defaults=True, gc=False):
    model_id: str
    model_version: str
    prediction_id: str
    timestamp: int
    features: Mapping[str, Any]
    segments: Mapping[str, str] | None = None


class Label(msgspec.Struct, gc=False):
    model_id: str
    prediction_id: str
    label: Any
    timestamp: int


def is_missing(value: Any) -> bool:
    """None, or pandas' ``NA`` or ``NaT`` (NaN is a float: the encoders write it as missing).

    >>> is_missing(None), is_missing(float("nan")), is_missing(0)
    (True, False, False)
    """
    if value is None:
        return True
    pandas = sys.modules.get("pandas")  # its markers exist only once it is imported
    return pandas is not None and (value is pandas.NA or value is pandas.NaT)


def native(value: Any) -> Any:
    """A plain Python value: a numpy scalar as its ``item()``, pandas' missing markers as None.

    >>> native(None), native("x"), native(2.5)
    (None, 'x', 2.5)
    """
    if is_missing(value):
        return None
    item = getattr(value, "item", None)
    return item() if item is not None else value


def _enc_hook(obj: Any) -> Any:
    # numpy scalars are not Python numbers to msgspec (np.float64 included); a Mapping that is
    # not a dict (MappingProxyType ...) encodes as its dict; pandas' NA and NaT are missing.
    if isinstance(obj, Mapping):
        return dict(obj)
    if is_missing(obj) or hasattr(obj, "item"):
        return native(obj)
    raise TypeError(f"cannot encode {type(obj).__name__}")


def json_encoder() -> Encode:
    """The JSON encoder of events (msgspec; NaN and infinities are written as null)."""
    return msgspec.json.Encoder(enc_hook=_enc_hook).encode


def epoch_ms(timestamp: Any) -> int:
    """Epoch milliseconds of an event time: an int (numpy's too), a ``datetime`` (naive = UTC;
    a pandas ``Timestamp`` is one), a numpy ``datetime64``; missing (None, NaT) is now."""
    if is_missing(timestamp):
        return time.time_ns() // 1_000_000
    if isinstance(timestamp, dt.datetime):
        if timestamp.tzinfo is None:  # as the event contract reads a bare time: UTC
            timestamp = timestamp.replace(tzinfo=dt.UTC)
        return (timestamp - _EPOCH) // _MS
    if isinstance(timestamp, int) and not isinstance(timestamp, bool):
        return timestamp
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        if isinstance(timestamp, numpy.integer):
            return int(timestamp)
        if isinstance(timestamp, numpy.datetime64):
            if numpy.isnat(timestamp):
                return epoch_ms(None)
            return int(timestamp.astype("datetime64[ms]").astype(numpy.int64))
    if isinstance(timestamp, float) and math.isfinite(timestamp) and timestamp.is_integer():
        return int(timestamp)  # an integer column with a gap, as pandas holds it
    raise TypeError(
        f"timestamp must be epoch milliseconds (int) or a datetime, got {type(timestamp).__name__}"
    )


def raw_avro(name: str) -> Encode:
    """The encoder of one event kind as raw Avro binary, with the bundled schema."""
    from fastavro import schemaless_writer

    from monitor.kafka.avro import parsed_schema

    schema = parsed_schema(name)

    def encode(record: dict[str, Any]) -> bytes:
        buf = io.BytesIO()
        schemaless_writer(buf, schema, _plain(record))
        return buf.getvalue()

    return encode


def registry_avro(registry: Any, name: str, topic: str) -> Encode:
    """The encoder of one event kind in the Confluent wire format, registering its schema under
    ``<topic>-value`` on first use (an HTTP request to the registry)."""
    from confluent_kafka.schema_registry.avro import AvroSerializer
    from confluent_kafka.serialization import MessageField, SerializationContext

    from monitor.kafka.avro import schema_text

    serializer = AvroSerializer(registry, schema_text(name), conf={"auto.register.schemas": True})
    context = SerializationContext(topic, MessageField.VALUE)

    def encode(record: dict[str, Any]) -> bytes:
        return serializer(_plain(record), context)

    return encode


def _plain(record: dict[str, Any]) -> dict[str, Any]:
    """Plain Python values (fastavro rejects ``np.int64``, ``np.bool_`` and ``pandas.NA``), and
    a feature's NaN as null, as the JSON encoder writes it (the service reads both as missing;
    so a NaN category decodes as the same None in both formats)."""
    if any(type(v) not in _PLAIN for v in record.values()):
        record = {k: native(v) for k, v in record.items()}
    features = record.get("features")
    if features is not None and any(
        type(v) not in _PLAIN or (type(v) is float and math.isnan(v)) for v in features.values()
    ):
        record["features"] = {k: _feature(v) for k, v in features.items()}
    return record


def _feature(value: Any) -> Any:
    value = native(value)
    return None if isinstance(value, float) and math.isnan(value) else value


_PLAIN = frozenset({float, int, str, bool, type(None), dict})
