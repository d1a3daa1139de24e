"""The one rule for values that go into JSON (SQL JSON columns, alert payloads, CLI output).

JSON has no NaN and no infinities: both become None (a statistic that could not be computed,
or a ratio with nothing under it, is unknown to a reader, not a number). A leaf module, so the
store, the alerts and the performance code share it without importing each other.
"""

from __future__ import annotations

import math
from typing import Any

import msgspec

__all__ = ["json_safe", "json_text"]


def json_safe(value: Any) -> Any:
    """``value`` with NaN and infinities as None, tuples and sets as lists, numpy scalars as
    Python numbers, keys as strings and anything else unknown as its ``str``.

    >>> import numpy as np
    >>> json_safe({"a": float("nan"), 1: (np.float64(2.5), float("-inf")), "b": {np.int64(3)}})
    {'a': None, '1': [2.5, None], 'b': [3]}
    >>> json_safe(True), json_safe(None), json_safe("x")
    (True, None, 'x')
    """
    kind = type(value)
    if kind is float:  # the common leaves first: histograms are lists of floats
        return value if value - value == 0.0 else None  # NaN and infinities fail this
    if kind is list and all(type(v) is float for v in value):
        return [v if v - v == 0.0 else None for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return int(value)  # an int subclass (IntEnum) as a plain int
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None  # np.float64 as a float
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_safe(v) for v in value]
    if hasattr(value, "item"):  # a numpy scalar
        return json_safe(value.item())
    return str(value)


def _leaf(value: Any) -> Any:
    """What msgspec cannot encode itself, by :func:`json_safe`'s rule."""
    return value.item() if hasattr(value, "item") else str(value)


_ENCODER = msgspec.json.Encoder(enc_hook=_leaf)


def json_text(value: Any) -> str:
    """The JSON text of ``json_safe(value)``, encoded in C without building that copy: msgspec
    writes NaN and infinities as null, tuples and sets as arrays, and hands numpy scalars and
    unknown values to the same rule (what it knows itself it writes its own way: bytes as
    base64, datetimes as RFC 3339). A value it refuses (a key that is not a string or a
    number, say) takes the walk of :func:`json_safe`. The store's JSON columns are written
    with this (a closed window's statistics and quality, SQL's hottest JSON).

    >>> import numpy as np
    >>> json_text({"a": float("nan"), "b": (np.float64(2.5), float("-inf")), 1: {np.int64(3)}})
    '{"a":null,"b":[2.5,null],"1":[3]}'
    >>> json_text({(1, 2): "a tuple key"}) == json_text(json_safe({(1, 2): "a tuple key"}))
    True
    """
    try:
        return _ENCODER.encode(value).decode()
    except (TypeError, ValueError):  # an unsupported key; the walk makes it a string
        return _ENCODER.encode(json_safe(value)).decode()
