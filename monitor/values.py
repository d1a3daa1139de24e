"""Values: one spelling of every category and one reading of every number, whoever wrote them.

The same data reaches the monitor spelled many ways: pandas writes ``True`` and ``1.0`` to CSV
(``1.0`` for an integer column with a gap), JSON carries ``true`` and ``1``, Parquet and Avro
carry typed booleans, integers and floats, a CSV reader sees only strings. Every reader
(reference files, decoded events, labels) and the SDK spell a category with :func:`category`,
and read a number with :func:`number`, so that ``True``, ``"True"``, ``"TRUE"`` and ``true``
are one category (``"true"``), and ``1``, ``1.0``, ``"1"`` and ``"1.0"`` another (``"1"``).

The rules (docs/events.md, "Values and types"):

- a boolean is ``"true"`` or ``"false"``, and so is a string spelling one (true, True, TRUE);
- a number is spelled as JSON spells it, an integral one without its fraction (``1.0`` is
  ``"1"``, below 2**53); a string that is a JSON number is that number (``"2.50"`` is
  ``"2.5"``), but a string that is not one stays text (``"01234"``, a post code, keeps its zero);
- a missing value (None, NaN, an infinity) is None: it counts as missing, not as a category;
- anything else is its ``str``.

>>> [category(v) for v in (True, "True", "TRUE", "true", False)]
['true', 'true', 'true', 'true', 'false']
>>> [category(v) for v in (1, 1.0, "1", "1.0", "1.00", "2.50", "01234", "-0")]
['1', '1', '1', '1', '1', '2.5', '01234', '0']
>>> category(float("nan")) is None, category(None) is None
(True, True)
>>> number("True"), number("3.5"), number(None), number(True)
(1.0, 3.5, nan, 1.0)
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

import numpy as np

__all__ = [
    "BOOLEANS",
    "Column",
    "Kind",
    "aliases",
    "categories",
    "category",
    "detect_kind",
    "number",
    "numbers",
]

#: A column of rows: a list of values, or an array of numbers.
Column = Sequence[Any] | np.ndarray

#: The spellings of a boolean read as one (what Python, pandas, JSON and YAML 1.2 write).
BOOLEANS: Mapping[str, str] = {
    "true": "true",
    "True": "true",
    "TRUE": "true",
    "false": "false",
    "False": "false",
    "FALSE": "false",
}
_FLAGS = {"true": 1.0, "false": 0.0}
# A JSON number (no leading zeros, no "+", no ".5"): the strings read as numbers.
_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?\Z")
_EXACT = 2.0**53  # integral floats below this are integers exactly

#: What a column's values look like: ``boolean`` (only true/false spellings), ``integer`` (only
#: integral numbers, in any spelling), ``numeric`` (numbers), ``categorical`` (anything else),
#: ``empty`` (no value that is not missing).
Kind = Literal["boolean", "integer", "numeric", "categorical", "empty"]


def category(value: Any) -> str | None:
    """The one spelling of a categorical value (see the module rules); None when missing.

    >>> category(2.5), category(-3), category("yes"), category(float("inf"))
    ('2.5', '-3', 'yes', None)
    """
    if type(value) is str:  # the common case first: a JSON or CSV string
        return _text(value)
    if value is None:
        return None
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        return _float(float(value))
    return str(value)


def categories(values: Sequence[Any]) -> list[str | None]:
    """:func:`category` of each value, spelled once per distinct value (a column of classes or
    flags has few): the hot path of predictions and labels.

    >>> categories([1, 1.0, "1.0", True, None, "x"])
    ['1', '1', '1', 'true', None, 'x']
    """
    types = set(map(type, values))
    if bool in types and len(types - {bool, str, type(None)}):  # True == 1 as a dict key
        return list(map(category, values))
    spelled = {value: category(value) for value in set(values)}
    return list(map(spelled.__getitem__, values))


def _text(text: str) -> str:
    spelled = BOOLEANS.get(text)
    if spelled is not None:
        return spelled
    if not text or not (text[0].isdigit() or text[0] == "-") or not _NUMBER.match(text):
        return text
    if text.isdigit() or text[1:].isdigit():  # an integer: only "-0" is spelled otherwise
        return text if text != "-0" else "0"
    return _float(float(text)) or text  # "1e400" is inf: no number, so text


def _float(value: float) -> str | None:
    if not math.isfinite(value):
        return None
    # An integral float spells as an integer where it is one exactly; 1e300 stays "1e+300"
    # (its integer would take 301 characters, and beyond 2**53 floats skip integers).
    return str(int(value)) if value.is_integer() and abs(value) < _EXACT else repr(value)


def number(value: Any) -> float:
    """A value of a numeric column as a float: NaN when missing; a boolean (in any spelling of
    :data:`BOOLEANS`) is 1 or 0, as a JSON ``true`` in a numeric feature is. Raises
    ``ValueError`` for text that is not a number.

    >>> number("false"), number(""), number(4)
    (0.0, nan, 4.0)
    """
    if value is None or value == "":
        return math.nan
    if isinstance(value, str):
        flag = BOOLEANS.get(value)
        return _FLAGS[flag] if flag is not None else float(value)
    return float(value)


def numbers(values: Column) -> np.ndarray:
    """:func:`number` of each value as a float64 array (a numeric array without a loop); the
    ``ValueError`` names the first row that is not a number.

    >>> numbers(["1", "", "True", None, 2.5]).tolist()
    [1.0, nan, 1.0, nan, 2.5]
    >>> numbers(["1", "one"])
    Traceback (most recent call last):
    ValueError: row 1: 'one' is not a number
    """
    if isinstance(values, np.ndarray) and values.dtype.kind in "fiub":
        return values.astype(np.float64)
    out = np.empty(len(values), np.float64)
    for i, value in enumerate(values):
        try:
            out[i] = number(value)
        except (TypeError, ValueError):
            raise ValueError(f"row {i}: {value!r} is not a number") from None
    return out


def aliases(vocab: Sequence[str]) -> dict[Any, int]:
    """The lookup of a vocabulary of :func:`category` spellings: each entry under its own
    spelling and under the raw values a decoder hands over most (JSON ``1``, ``2.5``,
    ``true``), so that those need no spelling per event; other spellings (``"1.0"``,
    ``"TRUE"``) miss, and the caller spells them once per distinct value and looks again.

    A boolean column and a 0/1 column are one thing spelled two ways: when the vocabulary is
    only true/false, or only 0/1, each side finds the other (``1`` is ``"true"``, ``false`` is
    ``"0"``), as a JSON ``true`` in a numeric feature is 1. ``True`` is the key ``1`` to a dict,
    so a boolean in a column of integers reads as 1 or 0; a column holding true or false
    besides other values keeps 0 and 1 out of the keys (the caller spells them, exactly).

    >>> codes = aliases(("1", "0", "2.5"))
    >>> codes[1.0], codes[0], codes[2.5], codes["2.5"], codes.get("true")
    (0, 1, 2, 2, None)
    >>> flags = aliases(("true", "false"))
    >>> flags[True], flags[False], flags["1"], flags[0]
    (0, 1, 0, 1)
    >>> aliases(("0", "1"))["true"], aliases(("True", "False"))[True]  # an older reference
    (1, 0)
    """
    codes: dict[Any, int] = {entry: i for i, entry in enumerate(vocab)}
    for entry, i in list(codes.items()):  # a reference stored before this spelling ("True")
        codes.setdefault(_text(entry), i)
    entries = set(map(_text, vocab))
    flags = entries & {"true", "false"}
    for entry, i in list(codes.items()):
        if _NUMBER.match(entry):
            value = float(entry)
            key = int(value) if value.is_integer() and abs(value) < _EXACT else value
            if not (flags and key in (0, 1)):
                codes.setdefault(key, i)
    if entries <= {"true", "false"} or entries <= {"0", "1"}:
        for text, flag, digit in (("true", True, "1"), ("false", False, "0")):
            code = codes.get(text, codes.get(digit))
            if code is not None:
                codes.update({text: code, digit: code, flag: code})
    return codes


def detect_kind(values: Iterable[Any]) -> Kind:
    """What the values of a column look like, whatever their spelling (see :data:`Kind`).

    >>> detect_kind(["True", "False", None]), detect_kind([1, "2", 3.0]), detect_kind(["1.5", 2])
    ('boolean', 'integer', 'numeric')
    >>> detect_kind(np.array([0.5, np.nan])), detect_kind(["a", 1]), detect_kind([None, ""])
    ('numeric', 'categorical', 'empty')
    """
    if isinstance(values, np.ndarray) and values.dtype.kind in "fiub":
        return _array_kind(values)
    kinds = {_kind(v) for v in {(type(v), v) for v in values if v is not None and v != ""}}
    kinds.discard("empty")
    if not kinds:
        return "empty"
    if len(kinds) == 1:
        return kinds.pop()
    return "numeric" if kinds == {"integer", "numeric"} else "categorical"


def _kind(typed: tuple[type, Any]) -> Kind:
    kind, value = typed
    if issubclass(kind, bool | np.bool_):
        return "boolean"
    if issubclass(kind, int | np.integer):
        return "integer"
    if issubclass(kind, str):
        if value in BOOLEANS:
            return "boolean"
        if not _NUMBER.match(value):
            return "categorical"
        value = float(value)
    if isinstance(value, float | np.floating):
        if not math.isfinite(value):
            return "empty"
        return "integer" if float(value).is_integer() else "numeric"
    return "categorical"


def _array_kind(values: np.ndarray) -> Kind:
    if values.dtype.kind == "b":
        return "boolean" if values.size else "empty"
    finite = values[np.isfinite(values)] if values.dtype.kind == "f" else values
    if finite.size == 0:
        return "empty"
    return "integer" if np.array_equal(finite, np.round(finite)) else "numeric"
