"""Quarantine: what the database refuses to store is set aside with its reason, so that the rest
of a checkpoint is written and the stream moves on.

Why. A checkpoint is one transaction: window state and positions together (see
:meth:`monitor.pipeline.checkpoint.Checkpointer.transaction`). If the database refuses one value
in it (a ``model_version`` longer than its column, a NUL character, a number beyond 64 bits),
the whole transaction fails, and the same delta, retried, fails the same way forever: no window is
written again. Events are
validated at decode time against the schema's limits, so this should not happen; this is the
defence behind that validation.

How (:func:`isolate`). A delta is cut into parts the database takes or refuses on their own:

- a *population*: one model version's panes, pane deletions, windows, late counts, performance
  panes and concept-drift detections, keyed by :class:`Population` (model id, model version);
- a *join record*: one prediction's or label's record of the label join (ids and values that
  are the event's own).

Parts are tried in transactions that are rolled back (:meth:`monitor.store.Store.rejection`).
Bisection over the populations, each with its records, finds the refused ones in about
``2 k log2 n`` trials for ``k`` refused of ``n`` (:func:`bisect`). In a refused population its
own part is tried alone: refused, the whole population goes (its version is the culprit, and
its records carry it too); taken, its records are bisected and only the refused records go.
Positions are never cut: the rest is written with them as one checkpoint, together with one
row per quarantined part in the ``quarantine`` table (:data:`quarantine`, migration 0008): job,
time, model, version, part, the database's reason, and what was dropped (counts, ids). A
refusal the trials cannot place (two parts that only fail together) quarantines every
population of the delta (:func:`everything`), so the stream still moves on.

Cost: the trials write at most twice the delta in all, and only when a checkpoint is refused.
Measured here (6,000 events of 20 versions with labels joined, one version refused; median of
3): the checkpoint took 0.37 s instead of 0.20 s on SQLite, 1.13 s instead of 0.55 s on
PostgreSQL. The engine still holds a refused version's state, so its later deltas (its window
when it closes) are refused and quarantined in turn: each says so once, with what it dropped.

The table is defined here, on :data:`monitor.store.schema.metadata`; importing
:mod:`monitor.store` registers it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, NamedTuple, TypeVar

from sqlalchemy import JSON, BigInteger, Column, Connection, Integer, String, Table, select

from monitor.engine import EngineState
from monitor.exceptions import StoreRejected
from monitor.join import JoinDelta, Record
from monitor.limits import MAX_ID_CHARS
from monitor.segments import split
from monitor.store.db import Database
from monitor.store.schema import metadata

__all__ = [
    "Dropped",
    "Population",
    "bisect",
    "everything",
    "isolate",
    "populations",
    "printable",
    "quarantine",
    "quarantined",
    "record",
    "rows",
]

T = TypeVar("T")
RecordKey = tuple[str, str]  # (join key, prediction id)
#: what a quarantined population's row counts
_COUNTED = (
    "panes",
    "windows",
    "late_events",
    "join_records",
    "performance_panes",
    "detections",
    "detectors",
)

quarantine = Table(
    "quarantine",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job", String(200), nullable=False),
    Column("at_ms", BigInteger, nullable=False),  # wall clock
    Column("model_id", String(MAX_ID_CHARS), nullable=False),  # printable, cut (as the version)
    Column("model_version", String(MAX_ID_CHARS), nullable=True),  # None: labels waiting
    Column("part", String(20), nullable=False),  # population | join_records
    Column("reason", String(1000), nullable=False),  # the database's message
    Column("dropped", JSON, nullable=False),  # what was set aside: counts, ids (printable, cut)
)


class Population(NamedTuple):
    """A model version's share of a delta; version None for labels still without prediction."""

    model_id: str
    model_version: str | None


class Dropped(NamedTuple):
    """A quarantined part: a whole population (``records`` None) or some of its join records."""

    population: Population
    records: tuple[RecordKey, ...] | None
    reason: StoreRejected


def bisect(
    items: Sequence[T],
    rejection: Callable[[Sequence[T]], StoreRejected | None],
    known: StoreRejected | None = None,
) -> list[tuple[T, StoreRejected]]:
    """The items ``rejection`` refuses on their own, each with its reason, by halving the
    refused halves; ``known``: the reason ``items`` as a whole were refused, if tried already.

    >>> bisect(list(range(8)), lambda xs: StoreRejected("too big") if max(xs) > 5 else None)
    [(6, StoreRejected('too big')), (7, StoreRejected('too big'))]
    """
    reason = known if known is not None else rejection(items) if items else None
    if reason is None:
        return []
    if len(items) == 1:
        return [(items[0], reason)]
    half = len(items) // 2
    return bisect(items[:half], rejection) + bisect(items[half:], rejection)


def _of_record(record: Record) -> Population:
    return Population(record[0], record[1])


def populations(state: EngineState) -> dict[Population, list[RecordKey]]:
    """Every population of ``state`` with its join records (a record's population is its own
    model version, which has no segment)."""
    out: dict[Population, list[RecordKey]] = {}
    for pop, _what, _n in _entries(state):
        out.setdefault(pop, [])
    for records in (state.join.records, state.join.relabeled):
        for key, record in records.items():
            out.setdefault(_of_record(record), []).append(key)
    return out


def _entries(state: EngineState) -> Iterator[tuple[Population, str, int]]:
    """(population, what, how many) of every population-keyed entry of ``state``."""
    for what, model_id, key, n in (
        *(("panes", k[1], k[2], 1) for k in (*state.panes, *state.deleted)),
        *(("windows", w.model_id, w.model_version, 1) for w in state.windows),
        *(("late_events", k[0], k[1], c) for k, c in state.late.items()),
        *(("performance_panes", k[1], k[2], 1) for k in state.join.panes),
        *(("touched", k[0], k[1], 0) for k in state.join.touched),
        *(("detections", d[0], d[1], 1) for d in state.detections),
        *(("detectors", k[1], k[2], 1) for k in state.detectors),
    ):
        yield Population(model_id, split(key)[0]), what, n


def _filter(
    state: EngineState,
    keep: Callable[[Population], bool],
    keep_record: Callable[[RecordKey, Record], bool],
    positions: bool,
) -> EngineState:
    """The entries of ``state`` whose population ``keep`` keeps, the records ``keep_record``
    keeps, and the positions when ``positions``."""

    def ok(model_id: str, key: str) -> bool:
        return keep(Population(model_id, split(key)[0]))

    join = state.join
    return EngineState(
        panes={k: b for k, b in state.panes.items() if ok(k[1], k[2])},
        deleted={k for k in state.deleted if ok(k[1], k[2])},
        windows=[w for w in state.windows if ok(w.model_id, w.model_version)],
        late=Counter({k: c for k, c in state.late.items() if ok(k[0], k[1])}),
        offsets=state.offsets if positions else {},
        watermarks=state.watermarks if positions else {},
        frontiers=state.frontiers if positions else {},
        idle=state.idle if positions else {},
        join=JoinDelta(
            records={k: r for k, r in join.records.items() if keep_record(k, r)},
            panes={k: b for k, b in join.panes.items() if ok(k[1], k[2])},
            touched={k for k in join.touched if ok(k[0], k[1])},
            relabeled={k: r for k, r in join.relabeled.items() if keep_record(k, r)},
            after_horizon=join.after_horizon if positions else Counter(),
        ),
        detections=[d for d in state.detections if ok(d[0], d[1])],
        detectors={k: d for k, d in state.detectors.items() if ok(k[1], k[2])},
    )


def _part(
    state: EngineState, chosen: Iterable[Population], records: Iterable[RecordKey]
) -> EngineState:
    """The data of the ``chosen`` populations and the join ``records``, without positions."""
    pops, keys = set(chosen), set(records)
    return _filter(state, pops.__contains__, lambda k, _r: k in keys, positions=False)


def _rest(state: EngineState, dropped: list[Dropped]) -> EngineState:
    """``state`` without what is ``dropped``, positions included."""
    whole = {d.population for d in dropped if d.records is None}
    keys = {k for d in dropped if d.records is not None for k in d.records}
    return _filter(
        state,
        lambda p: p not in whole,
        lambda k, r: k not in keys and _of_record(r) not in whole,
        positions=True,
    )


def isolate(
    state: EngineState,
    rejection: Callable[[EngineState], StoreRejected | None],
    refused: StoreRejected,
) -> tuple[EngineState, list[Dropped]]:
    """``state`` without the parts ``rejection`` refuses, and those parts (the module
    docstring); ``refused``: why ``state`` as a whole was refused."""
    groups = populations(state)
    dropped: list[Dropped] = []

    def with_records(pops: Sequence[Population]) -> StoreRejected | None:
        return rejection(_part(state, pops, [k for p in pops for k in groups[p]]))

    for pop, reason in bisect(list(groups), with_records, refused):
        alone = rejection(_part(state, [pop], []))
        if alone is not None:
            dropped.append(Dropped(pop, None, alone))
            continue
        refused_records = bisect(groups[pop], lambda keys: rejection(_part(state, [], keys)))
        for text in dict.fromkeys(str(why) for _, why in refused_records):  # a part per reason
            same = [(key, why) for key, why in refused_records if str(why) == text]
            dropped.append(Dropped(pop, tuple(key for key, _ in same), same[0][1]))
    return _rest(state, dropped), dropped


def everything(state: EngineState, reason: StoreRejected) -> tuple[EngineState, list[Dropped]]:
    """Only the positions of ``state``; every population in it quarantined for ``reason``."""
    dropped = [Dropped(pop, None, reason) for pop in populations(state)]
    return _rest(state, dropped), dropped


def printable(value: str | None, limit: int = MAX_ID_CHARS) -> str | None:
    """``value`` as the database can always store it: control and non-ASCII characters
    escaped, cut to ``limit`` characters.

    >>> printable("v1\\x00" + "x" * 300, 20)
    'v1\\\\x00xxxxxxxxxx ...'
    """
    if value is None:
        return None
    text = ascii(value)[1:-1]
    return text if len(text) <= limit else text[: limit - 4] + " ..."


def rows(state: EngineState, dropped: list[Dropped], job: str, at_ms: int) -> list[dict[str, Any]]:
    """The ``quarantine`` rows of ``dropped`` (parts of ``state``), with what each set aside."""
    counts: dict[Population, Counter[str]] = {}
    for pop, kind, n in _entries(state):  # one pass, however many populations are dropped
        counts.setdefault(pop, Counter())[kind] += n
    for pop, keys in populations(state).items():
        counts.setdefault(pop, Counter())["join_records"] += len(keys)
    out = []
    for d in dropped:
        if d.records is None:
            what: dict[str, Any] = {k: counts[d.population][k] for k in _COUNTED}
        else:
            what = {
                "join_records": len(d.records),
                "prediction_ids": [printable(pid, 100) for _, pid in d.records[:20]],
            }
        out.append(
            {
                "job": job,
                "at_ms": at_ms,
                "model_id": printable(d.population.model_id),
                "model_version": printable(d.population.model_version),
                "part": "population" if d.records is None else "join_records",
                "reason": printable(str(d.reason), 1000),
                "dropped": what,
            }
        )
    return out


def record(conn: Connection, quarantined: list[dict[str, Any]]) -> None:
    """Insert the ``quarantine`` rows (in the checkpoint's transaction)."""
    if quarantined:
        conn.execute(quarantine.insert(), quarantined)


def quarantined(db: Database, job: str | None = None) -> list[dict[str, Any]]:
    """What checkpoints set aside (of ``job`` when given), oldest first."""
    q = select(quarantine).order_by(quarantine.c.id)
    with db.tx() as conn:
        rows = conn.execute(q if job is None else q.where(quarantine.c.job == job)).mappings()
        return [dict(r) for r in rows]
