"""What a decoded event must also satisfy before it becomes a row: the checks a type cannot say.

The decoder's types (:mod:`monitor.events`) already bound the length of every string an event
carries (:mod:`monitor.limits`). These checks add the rest, each one vectorised over a batch and
run per event only when the batch fails, so a batch of good events pays a few numpy calls:

- **event time** is a finite number of epoch milliseconds, or an RFC 3339 instant, within
  [:data:`MIN_TIMESTAMP_MS`, :data:`MAX_TIMESTAMP_MS`] (1970-01-01T00:00:00Z ..
  9999-12-31T23:59:59.999Z); floats are truncated to whole milliseconds;
- **text** (ids, segment keys and values, categories, labels) holds no control character
  (Unicode Cc: U+0000-U+001F, U+007F-U+009F; PostgreSQL refuses NUL, and the others have no place
  in an id) and no surrogate (U+D800-U+DFFF: not encodable as UTF-8, so no database or encoder
  takes it; Python's ``json`` decodes a lone ``"\\ud800"`` into one);
- a **number used as a category** is spelled (``"3"``, ``"1e+20"``) in at most
  :data:`~monitor.limits.MAX_VALUE_CHARS` characters, as its string would be stored.

A failed check records a :class:`Fault` (reason, detail) under the event's index in a ``Faults``
dict, keeping the first fault of an event.

>>> faults: Faults = {}
>>> stamps([1000, float("nan"), 10**20, 2.9], faults).tolist()
[1000, 0, 0, 2]
>>> check_text("model_version", ["v1", "v\\x002", "v3", "v\\x004"], faults)
>>> [(i, f.reason) for i, f in sorted(faults.items())]  # the first fault of an event is kept
[(1, 'bad_timestamp'), (2, 'timestamp_out_of_range'), (3, 'invalid_characters')]
>>> faults[3].detail
'model_version contains U+0000 (a control character) at index 1'
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable, Sequence
from itertools import chain
from typing import Any, NamedTuple

import numpy as np

from monitor.limits import MAX_VALUE_CHARS

__all__ = [
    "MAX_TIMESTAMP_MS",
    "MIN_TIMESTAMP_MS",
    "Fault",
    "Faults",
    "check_categories",
    "check_finite",
    "check_segments",
    "check_text",
    "clean",
    "epoch_ms",
    "show",
    "stamps",
]

#: Earliest event time accepted at decode: the epoch (the engine may apply a later floor).
MIN_TIMESTAMP_MS = 0
#: Latest event time accepted at decode: 9999-12-31T23:59:59.999Z, the last instant RFC 3339
#: can write (the engine bounds it further by the wall clock).
MAX_TIMESTAMP_MS = 253_402_300_799_999

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MS = dt.timedelta(milliseconds=1)
_RANGE = (
    f"[{MIN_TIMESTAMP_MS}, {MAX_TIMESTAMP_MS}] epoch ms "
    "(1970-01-01T00:00:00Z .. 9999-12-31T23:59:59.999Z)"
)
_FORBIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
# An integer category spells in at most MAX_VALUE_CHARS characters, a minus sign included.
_INT_BELOW = 10**MAX_VALUE_CHARS
_INT_ABOVE = -(10 ** (MAX_VALUE_CHARS - 1))


class Fault(NamedTuple):
    """Why an event cannot be used: a reason code (``monitor.events.REASONS``) and a detail."""

    reason: str
    detail: str


Faults = dict[int, Fault]


def show(value: Any, limit: int = 80) -> str:
    """``repr(value)``, cut to ``limit`` characters: details quote hostile values briefly.

    >>> show("x" * 100, 10)
    "'xxxxxxxx…"
    """
    if isinstance(value, int) and value.bit_length() > 4 * limit:  # str() may refuse a huge int
        return f"an integer of about {int(value.bit_length() * math.log10(2)) + 1} digits"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def epoch_ms(value: Any) -> int | Fault:
    """Epoch milliseconds of an event's timestamp (an int, a float or a ``datetime``), or why
    it is not a usable instant.

    >>> epoch_ms(dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)), epoch_ms(1.9)
    (1767225600000, 1)
    >>> epoch_ms(float("inf")).reason, epoch_ms(-1).reason
    ('bad_timestamp', 'timestamp_out_of_range')
    """
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:  # RFC 3339 requires an offset; treat a bare time as UTC
            value = value.replace(tzinfo=dt.UTC)
        ms = (value - _EPOCH) // _MS
    elif isinstance(value, float):
        if not math.isfinite(value):
            return Fault("bad_timestamp", f"timestamp {value!r} is not a finite number")
        ms = int(value)
    elif isinstance(value, int):
        ms = value
    else:
        return Fault(
            "bad_timestamp",
            f"timestamp must be epoch milliseconds or an RFC 3339 string, got {show(value)}",
        )
    if MIN_TIMESTAMP_MS <= ms <= MAX_TIMESTAMP_MS:
        return ms
    return Fault("timestamp_out_of_range", f"timestamp {show(value)} is outside {_RANGE}")


def stamps(values: Sequence[Any], faults: Faults) -> np.ndarray:
    """The int64 epoch ms of ``values``; 0 where a timestamp is unusable (recorded in ``faults``).

    All ints in range (the common case) convert and check in numpy; datetimes (RFC 3339 strings)
    and bad values go one by one."""
    n = len(values)
    try:
        ms = np.fromiter(values, np.int64, n)
    except (TypeError, ValueError, OverflowError):  # datetimes, NaN, or beyond int64
        out = [epoch_ms(v) for v in values]
        for i, m in enumerate(out):
            if isinstance(m, Fault):
                faults.setdefault(i, m)
                out[i] = 0
        return np.array(out, np.int64)
    if n and (ms.min() < MIN_TIMESTAMP_MS or ms.max() > MAX_TIMESTAMP_MS):
        for i in np.flatnonzero((ms < MIN_TIMESTAMP_MS) | (ms > MAX_TIMESTAMP_MS)).tolist():
            fault = epoch_ms(values[i])
            assert isinstance(fault, Fault)  # an int64 outside the range
            faults.setdefault(i, fault)
            ms[i] = 0
    return ms


def clean(text: str) -> bool:
    """Whether ``text`` has no control character and no surrogate; ASCII text (the common
    case) is tested by numpy on its bytes.

    >>> clean("fraud-2026.11"), clean("caf\\u00e9"), clean("a\\tb"), clean("\\ud800")
    (True, True, False, False)
    """
    if text.isascii():
        codes = np.frombuffer(text.encode("ascii"), np.uint8)
        return not codes.size or (int(codes.min()) >= 0x20 and "\x7f" not in text)
    return _FORBIDDEN.search(text) is None


def _forbidden(field: str, text: str) -> Fault | None:
    found = _FORBIDDEN.search(text)
    if found is None:
        return None
    char = found.group()
    kind = "a surrogate" if "\ud800" <= char <= "\udfff" else "a control character"
    return Fault(
        "invalid_characters",
        f"{field} contains U+{ord(char):04X} ({kind}) at index {found.start()}",
    )


def check_text(field: str, values: list[str], faults: Faults) -> None:
    """Record an ``invalid_characters`` fault for each of ``values`` (strings) that has one."""
    if clean("".join(values)):
        return
    for i, text in enumerate(values):
        fault = _forbidden(field, text)
        if fault is not None:
            faults.setdefault(i, fault)


def _category_fault(field: str, value: Any) -> Fault | None:
    if isinstance(value, str):
        return _forbidden(field, value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # spelled as an integer (reference.category)
    if (
        isinstance(value, int)
        and not isinstance(value, bool)
        and not _INT_ABOVE < value < _INT_BELOW
    ):
        return Fault(
            "field_too_long",
            f"{field} {show(value)} as a category is longer than {MAX_VALUE_CHARS} characters",
        )
    return None


def check_categories(field: str, values: list[Any], faults: Faults) -> None:
    """Check a column of categories (strings, numbers, bools, None): each distinct value once,
    then the events that hold a bad one."""
    try:  # the common case: strings only
        if clean("".join(values)):
            return
    except TypeError:  # None or numbers among them
        pass
    distinct = set(values)
    distinct.discard(None)
    texts = [v for v in distinct if type(v) is str]
    if len(texts) == len(distinct) and clean("".join(texts)):
        return
    bad = {}
    for value in distinct:
        fault = _category_fault(field, value)
        if fault is not None:
            bad[value] = fault
    if bad:
        for i, value in enumerate(values):
            if value in bad:
                faults.setdefault(i, bad[value])


def check_segments(segments: list[dict[str, str] | None], faults: Faults) -> None:
    """Check the segment keys and values of each event (dicts of strings, or None)."""
    pairs = set(chain.from_iterable(map(dict.items, filter(None, segments))))
    if clean("".join(chain.from_iterable(pairs))):
        return
    for i, seg in enumerate(segments):
        for key, value in (seg or {}).items():
            fault = _forbidden("segments key", key) or _forbidden(f"segments.{key}", value)
            if fault is not None:
                faults.setdefault(i, fault)
                break


def check_finite(field: str, values: Iterable[float], faults: Faults) -> None:
    """Record a ``wrong_type`` fault for each NaN or infinite value (Avro, or Python's json)."""
    column = np.fromiter(values, np.float64)
    if np.isfinite(column).all():
        return
    for i in np.flatnonzero(~np.isfinite(column)).tolist():
        faults.setdefault(
            i, Fault("wrong_type", f"{field} must be a finite number, got {float(column[i])!r}")
        )
