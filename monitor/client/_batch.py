"""Batches: the events of many rows (a list of records, or a DataFrame) in the single call's terms.

A row is a mapping of column to value (``DataFrame.to_dict("records")``, pandas is never
imported). Which column holds what is said as the single call says it: ``prediction``,
``score``, ``prediction_id``, ``timestamp``, ``label`` name columns (by default the column of
that name, or the one the model's ``columns:`` config maps, when the data has it), ``segments``
the columns whose values are segments, ``features`` the feature columns (by default the model's
configured features read from their ``source`` column, or without a config every other column).

>>> rows = [{"amount": 1.5, "country": "DE", "prediction": 1, "id": 7, "region": "eu"},
...         {"amount": float("nan"), "country": None, "prediction": 0, "id": 8, "region": None}]
>>> table = Table(rows)
>>> cols = prediction_columns(table.columns, None, prediction_id="id", segments=["region"])
>>> cols.features
(('amount', 'amount'), ('country', 'country'))
>>> for features, prediction, score, scores, segments, pid, ts in prediction_fields(table, cols):
...     print(features, prediction, segments, pid)
{'amount': 1.5, 'country': 'DE'} 1 {'region': 'eu'} 7
{'amount': nan, 'country': None} 0 None 8

A pandas DataFrame is read a column at a time (``Series.tolist()``, only the columns used), and
its timestamp column, when a datetime one, converted to epoch milliseconds by numpy: boxing
each value as a ``Timestamp`` and converting it in Python costs about 4 µs a row.
"""

from __future__ import annotations

import math
import numbers
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from itertools import chain, repeat
from operator import itemgetter
from typing import TYPE_CHECKING, Any, NamedTuple

from monitor.client._encode import is_missing, native
from monitor.values import category

if TYPE_CHECKING:
    from monitor.config import ModelConfig

__all__ = [
    "LabelColumns",
    "PredictionColumns",
    "Table",
    "label_columns",
    "label_fields",
    "prediction_columns",
    "prediction_fields",
]


class PredictionColumns(NamedTuple):
    """The columns of a batch of predictions (None: the data has no such column)."""

    features: tuple[tuple[str, str], ...]  # (feature name, its column)
    prediction: str | None
    score: str | None
    prediction_id: str | None
    timestamp: str | None
    segments: tuple[str, ...]


class LabelColumns(NamedTuple):
    """The columns of a batch of labels."""

    prediction_id: str
    label: str
    timestamp: str | None


class Table:
    """The rows of a batch: a pandas DataFrame (read by column), anything else with
    ``to_dict("records")``, or an iterable of mappings (read by row)."""

    def __init__(self, data: Any) -> None:
        if isinstance(data, Mapping | str | bytes):
            raise TypeError(
                "expected records (an iterable of mappings) or a DataFrame, "
                f"got a {type(data).__name__}"
            )
        self._frame: Any = None
        self._records: list[Mapping[str, Any]] = []
        pandas = sys.modules.get("pandas")  # a DataFrame exists only once pandas is imported
        if pandas is not None and isinstance(data, pandas.DataFrame):
            if not data.columns.is_unique:
                duplicated = sorted(set(data.columns[data.columns.duplicated()]))
                raise ValueError(f"the DataFrame has duplicate columns: {duplicated}")
            self._frame = data
            self.columns: dict[str, None] = dict.fromkeys(data.columns)
            self.size = len(data)
            return
        to_dict = getattr(data, "to_dict", None)
        rows = to_dict("records") if callable(to_dict) else list(data)
        bad = sorted(t.__name__ for t in set(map(type, rows)) if not issubclass(t, Mapping))
        if bad:
            raise TypeError(f"a record must be a mapping of column to value, got {', '.join(bad)}")
        self._records = rows
        self.columns = dict.fromkeys(chain.from_iterable(rows))
        self.size = len(rows)

    def __len__(self) -> int:
        return self.size

    def rows(self, names: Sequence[str], times: str | None = None) -> Iterator[tuple[Any, ...]]:
        """Per row, the values of the columns ``names`` (None where a record lacks one); the
        column ``times``, a datetime column of a DataFrame, as epoch milliseconds."""
        if self._frame is None:
            return map(_picker(names), self._records)
        if not names:
            return repeat((), self.size)
        return zip(*(self._column(name, name == times) for name in names))

    def _column(self, name: str, times: bool) -> list[Any]:
        series = self._frame[name]
        if times and series.dtype.kind == "M":  # datetime64, naive (UTC) or with a time zone
            import numpy as np

            stamps = series.to_numpy(dtype="datetime64[ms]")
            ms: list[Any] = stamps.astype(np.int64).tolist()
            for i in np.flatnonzero(np.isnat(stamps)).tolist():
                ms[i] = None  # NaT: missing, as the single call reads it (now)
            return ms
        return series.tolist()


def _role(
    columns: Mapping[str, None], role: str, given: str | None, model: ModelConfig | None
) -> str | None:
    """The column of a role: the one given (it must be there), else the model's mapping or the
    role's name, if the data has it."""
    if given is not None:
        if given not in columns:
            raise ValueError(
                f"{role} column {given!r} is not in the data; columns: {list(columns)}"
            )
        return given
    default = model.columns.sources().get(role, role) if model is not None else role
    return default if default in columns else None


def _present(columns: Mapping[str, None], what: str, names: Iterable[str]) -> None:
    missing = [name for name in names if name not in columns]
    if missing:
        raise ValueError(f"{what} {missing} not in the data; columns: {list(columns)}")


def prediction_columns(
    columns: Mapping[str, None],
    model: ModelConfig | None,
    *,
    features: Sequence[str] | Mapping[str, str] | None = None,
    prediction: str | None = None,
    score: str | None = None,
    prediction_id: str | None = None,
    timestamp: str | None = None,
    segments: Sequence[str] | None = None,
) -> PredictionColumns:
    """Resolve which of ``columns`` holds what (see the module docstring)."""
    roles = {
        role: _role(columns, role, given, model)
        for role, given in (
            ("prediction", prediction),
            ("score", score),
            ("prediction_id", prediction_id),
            ("timestamp", timestamp),
        )
    }
    if segments is None:
        keys = model.segments.keys if model is not None else ()
        segments = [key for key in keys if key in columns]
    _present(columns, "segment columns", segments)
    if isinstance(features, Mapping):
        pairs = list(features.items())
    elif features is not None:
        if isinstance(features, str):
            raise TypeError("features must be a list of column names, not a string")
        pairs = [(name, name) for name in features]
    elif model is not None:
        pairs = [
            (n, f.source or n) for n, f in model.features.items() if (f.source or n) in columns
        ]
    else:
        taken = {*roles.values(), *segments}
        pairs = [(name, name) for name in columns if name not in taken]
    _present(columns, "feature columns", [column for _, column in pairs])
    return PredictionColumns(tuple(pairs), **roles, segments=tuple(segments))


def label_columns(
    columns: Mapping[str, None],
    model: ModelConfig | None,
    *,
    prediction_id: str | None = None,
    label: str | None = None,
    timestamp: str | None = None,
) -> LabelColumns:
    """Resolve the columns of a batch of labels: an id and a label column are required."""
    pid = _role(columns, "prediction_id", prediction_id, model)
    label_column = _role(columns, "label", label, model)
    for role, found, given in (
        ("prediction_id", pid, prediction_id),
        ("label", label_column, label),
    ):
        if found is None:
            raise ValueError(
                f"no {role} column in the data (pass {role}='COLUMN'); columns: {list(columns)}"
            )
    assert pid is not None and label_column is not None
    return LabelColumns(pid, label_column, _role(columns, "timestamp", timestamp, model))


def _picker(columns: Sequence[str]) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    """The values of ``columns`` in a row, as a tuple (None for a column the row lacks)."""
    if len(columns) < 2:
        return lambda row: tuple(map(row.get, columns))
    get = itemgetter(*columns)

    def pick(row: Mapping[str, Any]) -> tuple[Any, ...]:
        try:
            return get(row)
        except KeyError:  # a record without some of the columns: they are missing there
            return tuple(map(row.get, columns))

    return pick


def spell_id(value: Any) -> str | None:
    """A prediction id from a column: a string as it is; an integer (a numpy or pandas one,
    or a float without a fraction, as an integer column with a gap holds it) spelled as one;
    None when missing.

    >>> spell_id("a1"), spell_id(7), spell_id(7.0), spell_id(float("nan"))
    ('a1', '7', '7', None)
    """
    if type(value) is str:
        return value
    return None if is_missing(value) else category(native(value))


def _segment(value: Any) -> str | None:
    return value if type(value) is str else category(native(value))


def prediction_fields(
    table: Table, cols: PredictionColumns
) -> Iterator[tuple[dict[str, Any], Any, Any, None, dict[str, str] | None, str | None, Any]]:
    """Per row: (features, prediction, score, scores (None), segments, prediction id or None,
    timestamp), the arguments of the single call. Missing values stay as the row holds them
    (NaN, None, pandas' NA): the encoders write each as missing."""
    names = [name for name, _ in cols.features]
    roles = (cols.prediction, cols.score, cols.prediction_id, cols.timestamp)
    present = [column for column in roles if column is not None]
    columns = [column for _, column in cols.features] + present + list(cols.segments)
    # A role without a column reads the None appended to each row's values (index -1).
    slots, at = [], len(names)
    for column in roles:
        slots.append(-1 if column is None else at)
        at += column is not None
    get_roles = itemgetter(*slots)
    keys = cols.segments
    for values in table.rows(columns, cols.timestamp):
        prediction, score, pid, timestamp = get_roles((*values, None))
        segments = None
        if keys:
            spelled = ((k, _segment(v)) for k, v in zip(keys, values[at:]))
            segments = {k: v for k, v in spelled if v is not None} or None
        pid = pid if type(pid) is str else spell_id(pid)
        yield dict(zip(names, values)), prediction, score, None, segments, pid, timestamp


def label_fields(
    table: Table, cols: LabelColumns
) -> Iterator[tuple[int, tuple[str | None, Any, Any]]]:
    """Per row with a label (a missing one, None or NaN, is not known yet: the row is skipped):
    its number and (prediction id or None, label, timestamp)."""
    names = [cols.prediction_id, cols.label, *([cols.timestamp] if cols.timestamp else [])]
    for i, values in enumerate(table.rows(names, cols.timestamp)):
        pid, label, timestamp = (*values, None)[:3]
        if is_missing(label) or (isinstance(label, numbers.Real) and math.isnan(label)):
            continue
        yield i, ((pid if type(pid) is str else spell_id(pid)), label, timestamp)
