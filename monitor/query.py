"""Read what ``monitor`` persisted, from a notebook or a script: drift windows, performance
windows and alerts as typed records (frozen dataclasses), and as pandas DataFrames.

:class:`Query` reads through the store's own queries (:mod:`monitor.store.windows`,
:mod:`monitor.store.performance`, :mod:`monitor.alerts.queries`); each method returns
:class:`Records`, a sequence of records whose :meth:`Records.to_frame` builds a DataFrame
(``pip install 'monitor[pandas]'``; pandas is imported only then). Times are UTC datetimes;
``since`` and ``until`` take a datetime (naive means UTC) or epoch milliseconds, and keep the
windows that end after ``since`` and start before ``until``.

A tiny file replayed into an in-memory store, whose ``amount`` shifts in the second minute:

>>> import json, random, tempfile
>>> from pathlib import Path
>>> import monitor
>>> config = monitor.parse_config({"database_url": "sqlite://", "models": {"fraud": {
...     "window": "1m", "min_events": 10, "reference": {"baseline_events": 0},
...     "features": {"amount": {"kind": "numeric"}},
...     "rules": [{"name": "drift", "kind": "feature_drift", "statistic": "psi",
...                "warning": 0.1, "critical": 0.25}]}}})
>>> store = monitor.Store(config.database_url); store.upgrade()
>>> rng = random.Random(7)
>>> reference = {"amount": [rng.gauss(100, 10) for _ in range(1000)]}
>>> _ = store.save_reference(
...     monitor.ReferenceProfile.for_model("fraud", "*", config.models["fraud"], reference))
>>> events = Path(tempfile.mkdtemp()) / "events.jsonl"
>>> with events.open("w") as f:
...     for i in range(240):  # one event every 500 ms: two one-minute windows
...         amount = rng.gauss(100 if i < 120 else 130, 10)
...         _ = f.write(json.dumps({"model_id": "fraud", "model_version": "v1",
...             "prediction_id": str(i), "timestamp": 1_700_000_040_000 + 500 * i,
...             "features": {"amount": amount}}) + "\\n")
>>> _ = monitor.replay_files(config, store, [events])
>>> q = monitor.Query(store)
>>> for w in q.windows("fraud", feature="amount"):
...     print(w.window_start.time(), w.events, w.late, w.severity, w.statistic, w.threshold)
22:14:00 120 0 ok ks 0.1
22:15:00 120 0 critical psi 0.25
>>> [(a.rule, a.feature, a.state, a.severity) for a in q.alerts("fraud")]
[('drift', 'amount', 'firing', 'critical')]
>>> frame = q.windows("fraud").to_frame()
>>> frame[["window_start", "feature", "events", "severity", "decided_by"]].iloc[1].to_dict()
... # doctest: +NORMALIZE_WHITESPACE +ELLIPSIS
{'window_start': Timestamp('2023-11-14 22:15:00+0000', tz='UTC'), 'feature': 'amount',
 'events': 120, 'severity': 'critical', 'decided_by': 'psi=... >= 0.25'}
>>> q.performance("fraud").to_frame().empty  # no labels in this replay
True
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from os import PathLike
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Self, TypeVar, overload

from monitor.alerts.queries import ACTIVE_STATES, alert_history, list_alerts
from monitor.config import load_config
from monitor.format import verdict_text
from monitor.store import windows as window_queries
from monitor.store.db import Database
from monitor.store.performance import PerformanceRepository

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "Alert",
    "AlertTransition",
    "DriftWindow",
    "PerformanceWindow",
    "Query",
    "Records",
]

#: ``since`` and ``until``: a datetime (naive means UTC) or epoch milliseconds
Instant = dt.datetime | int

PANDAS_MISSING = "DataFrames need pandas: pip install 'monitor[pandas]'"


@dataclass(frozen=True, slots=True)
class DriftWindow:
    """One feature (or ``prediction``, ``score``) of one closed window: its statistics and the
    verdict. ``statistic``, ``value`` and ``threshold`` say what set ``severity`` (None on
    windows written before verdicts were recorded); ``decided_by`` says it in words."""

    FLAT: ClassVar[tuple[str, ...]] = ("statistics",)

    model_id: str
    model_version: str
    segment: str | None  # "key=value", None for the whole version
    feature: str
    kind: str  # numeric | categorical
    window_start: dt.datetime
    window_end: dt.datetime
    events: int  # values in the window, missing ones included
    missing: int
    late: int | None  # events dropped after the window closed (None for segments: not kept)
    severity: str  # ok | warning | critical
    drift: bool
    statistic: str | None
    value: float | None
    threshold: float | None
    decided_by: str
    statistics: Mapping[str, Any]
    quality: Mapping[str, Any]
    baseline: bool  # compared with the first windows, not a reference profile
    reference_version: int


@dataclass(frozen=True, slots=True)
class PerformanceWindow:
    """Performance of one model version over one window: ``realized`` from the labels that
    arrived, ``estimated`` from the scores alone (binary classifiers), ``coverage`` the labeled
    share of the predictions. ``final`` once the label horizon has passed."""

    FLAT: ClassVar[tuple[str, ...]] = ("realized", "estimated")

    model_id: str
    model_version: str
    window_start: dt.datetime
    window_end: dt.datetime
    predictions: int
    labeled: int
    coverage: float | None
    realized: Mapping[str, Any]
    estimated: Mapping[str, Any]
    segments: Mapping[str, Any]
    label_delay: Mapping[str, Any]
    final: bool


@dataclass(frozen=True, slots=True)
class Alert:
    """An alert's current state: a rule of a model version on a feature (``""``: on the model
    as a whole). ``since`` is the end of the window where the current state began."""

    FLAT: ClassVar[tuple[str, ...]] = ()

    rule: str
    model_id: str
    model_version: str
    feature: str
    kind: str
    state: str  # inactive | pending | firing | resolved
    severity: str
    value: float | None
    threshold: float | None
    since: dt.datetime | None
    last_window_end: dt.datetime
    details: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class AlertTransition:
    """One recorded change of an alert's state, at the window that caused it; ``at`` is the
    wall-clock time it was recorded."""

    FLAT: ClassVar[tuple[str, ...]] = ()

    rule: str
    model_id: str
    model_version: str
    feature: str
    window_start: dt.datetime
    window_end: dt.datetime
    from_state: str
    to_state: str
    severity: str
    value: float | None
    threshold: float | None
    inhibited: bool  # a data-quality alert on the feature held this drift alert back
    at: dt.datetime
    details: Mapping[str, Any]


R = TypeVar("R", DriftWindow, PerformanceWindow, Alert, AlertTransition)


class Records(Sequence[R], Generic[R]):
    """Records of one type, oldest first, that also make a DataFrame."""

    def __init__(self, kind: type[R], rows: Iterable[R]) -> None:
        self.kind: type[R] = kind
        self._rows: tuple[R, ...] = tuple(rows)

    @overload
    def __getitem__(self, i: int) -> R: ...
    @overload
    def __getitem__(self, i: slice) -> Records[R]: ...
    def __getitem__(self, i: int | slice) -> R | Records[R]:
        if isinstance(i, slice):
            return Records(self.kind, self._rows[i])
        return self._rows[i]

    def __len__(self) -> int:
        return len(self._rows)

    def __iter__(self) -> Iterator[R]:
        return iter(self._rows)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Records):
            return NotImplemented
        return self.kind is other.kind and self._rows == other._rows

    __hash__ = None  # type: ignore[assignment]  # equal by value, and mutable-free but unhashed

    def __repr__(self) -> str:
        return f"Records[{self.kind.__name__}]({list(self._rows)!r})"

    def to_frame(self) -> pd.DataFrame:
        """A DataFrame, one row per record: a column per field, times as UTC timestamps;
        the mappings in the record type's ``FLAT`` (a window's ``statistics``, performance's
        ``realized`` and ``estimated``) become a column per scalar entry, ``<field>_<name>``.
        Raises ImportError naming ``pip install 'monitor[pandas]'`` without pandas."""
        try:
            import pandas as pd
        except ImportError as exc:
            raise ImportError(PANDAS_MISSING) from exc
        columns = [f.name for f in fields(self.kind) if f.name not in self.kind.FLAT]
        rows = [_flat_row(r, columns) for r in self._rows]
        frame = pd.DataFrame(rows) if rows else pd.DataFrame(columns=columns)
        return frame


def _flat_row(record: Any, columns: list[str]) -> dict[str, Any]:
    row = {c: getattr(record, c) for c in columns}
    for name in record.FLAT:
        for key, value in getattr(record, name).items():
            if value is None or isinstance(value, (bool, int, float, str)):
                row[f"{name}_{key}"] = value
    return row


class Query:
    """Queries over the store at ``store`` (a :class:`~monitor.Store`, or a database URL such
    as ``sqlite:///monitor.db``); :meth:`from_config` takes a config file's ``database_url``.
    A Query made from a URL owns its connections: :meth:`close` them (or use ``with``)."""

    def __init__(self, store: Database | str) -> None:
        self._owned = isinstance(store, str)
        self.db = Database(store) if isinstance(store, str) else store

    @classmethod
    def from_config(cls, path: str | PathLike[str]) -> Query:
        """A Query over the database of the config file at ``path``."""
        return cls(load_config(path).database_url)

    def close(self) -> None:
        """Release the connections of a Query made from a URL (a store passed in stays open)."""
        if self._owned:
            self.db.engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def windows(
        self,
        model: str,
        *,
        version: str | None = None,
        feature: str | None = None,
        segment: str | None = "",
        since: Instant | None = None,
        until: Instant | None = None,
    ) -> Records[DriftWindow]:
        """Closed drift windows of ``model``, oldest first, one record per feature: of the
        whole version by default, of one ``segment`` ("key=value"), or of all (None)."""
        rows = window_queries.windows(
            self.db, model, feature, _ms(since), version, segment, _ms(until)
        )
        late = window_queries.late_counts(self.db, model) if rows else {}
        return Records(DriftWindow, (_drift_window(r, late) for r in rows))

    def performance(
        self,
        model: str,
        *,
        version: str | None = None,
        since: Instant | None = None,
        until: Instant | None = None,
    ) -> Records[PerformanceWindow]:
        """Performance windows of ``model``, oldest first."""
        rows = PerformanceRepository(self.db).windows(model, version, _ms(since), _ms(until))
        return Records(PerformanceWindow, map(_performance_window, rows))

    def alerts(
        self,
        model: str | None = None,
        *,
        version: str | None = None,
        feature: str | None = None,
        states: Sequence[str] | None = ACTIVE_STATES,
    ) -> Records[Alert]:
        """Alerts in ``states`` (pending or firing by default; None: every state), by model,
        version, rule and feature."""
        with self.db.tx() as conn:
            rows = list_alerts(
                conn,
                model_id=model,
                version=version,
                subject=feature,
                states=tuple(states) if states is not None else None,
            )
        return Records(Alert, map(_alert, rows))

    def alert_history(
        self,
        model: str | None = None,
        *,
        version: str | None = None,
        feature: str | None = None,
        since: Instant | None = None,
        until: Instant | None = None,
    ) -> Records[AlertTransition]:
        """Recorded alert transitions, oldest first."""
        with self.db.tx() as conn:
            rows = alert_history(
                conn,
                model_id=model,
                version=version,
                subject=feature,
                since_ms=_ms(since),
                until_ms=_ms(until),
            )
        return Records(AlertTransition, map(_transition, rows))


def _ms(instant: Instant | None) -> int | None:
    """Epoch milliseconds of a datetime (naive: UTC) or of epoch milliseconds.

    >>> _ms(dt.datetime(1970, 1, 1, 0, 0, 1)), _ms(5), _ms(None)
    (1000, 5, None)
    """
    if instant is None or isinstance(instant, int):
        return instant
    if not isinstance(instant, dt.datetime):
        raise TypeError(f"expected a datetime or epoch milliseconds, got {instant!r}")
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=dt.UTC)
    return int(instant.timestamp() * 1000)


def _time(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC)


def _drift_window(row: dict[str, Any], late: dict[tuple[str, int], int]) -> DriftWindow:
    decided = row["decided_by"] or {}
    start, end = row["window_start"], row["window_end"]
    return DriftWindow(
        model_id=row["model_id"],
        model_version=row["model_version"],
        segment=row["segment"] or None,
        feature=row["feature"],
        kind=row["kind"],
        window_start=_time(start),
        window_end=_time(end),
        events=row["count"],
        missing=row["missing"],
        # late events are dropped before they are told apart by segment (as `monitor windows`)
        late=None
        if row["segment"]
        else window_queries.late_in(late, row["model_version"], start, end),
        severity=row["severity"],
        drift=row["drift"],
        statistic=decided.get("statistic"),
        value=decided.get("value"),
        threshold=decided.get("threshold"),
        decided_by=verdict_text(row["decided_by"]),
        statistics=row["statistics"],
        quality=row["quality"],
        baseline=row["baseline"],
        reference_version=row["reference_version"],
    )


def _performance_window(row: dict[str, Any]) -> PerformanceWindow:
    return PerformanceWindow(
        model_id=row["model_id"],
        model_version=row["model_version"],
        window_start=_time(row["window_start"]),
        window_end=_time(row["window_end"]),
        predictions=row["predictions"],
        labeled=row["labeled"],
        coverage=row["labeled"] / row["predictions"] if row["predictions"] else None,
        realized=row["metrics"],
        estimated=row["estimated"] or {},
        segments=row["segments"] or {},
        label_delay=row["label_delay"] or {},
        final=row["final"],
    )


def _alert(row: dict[str, Any]) -> Alert:
    return Alert(
        rule=row["rule"],
        model_id=row["model_id"],
        model_version=row["model_version"],
        feature=row["subject"],
        kind=row["kind"],
        state=row["state"],
        severity=row["severity"],
        value=row["value"],
        threshold=row["threshold"],
        since=None if row["since_end"] is None else _time(row["since_end"]),
        last_window_end=_time(row["last_window_end"]),
        details=row["details"] or {},
    )


def _transition(row: dict[str, Any]) -> AlertTransition:
    return AlertTransition(
        rule=row["rule"],
        model_id=row["model_id"],
        model_version=row["model_version"],
        feature=row["subject"],
        window_start=_time(row["window_start"]),
        window_end=_time(row["window_end"]),
        from_state=row["from_state"],
        to_state=row["to_state"],
        severity=row["severity"],
        value=row["value"],
        threshold=row["threshold"],
        inhibited=row["inhibited"],
        at=_time(row["at_ms"]),
        details=row["details"] or {},
    )
