"""The SQL store as one object: :class:`Store`, a thin facade over the store's modules, and the
checkpoint transaction.

The store is split by responsibility, each module importing only :mod:`monitor.store.db` and
:mod:`monitor.store.schema` of the store (no import circle, nothing above the store):

- :mod:`monitor.store.db`: engine, dialect setup, migrations, transactions, upserts;
- :mod:`monitor.store.references`: reference profiles;
- :mod:`monitor.store.state`: pipeline state (panes, positions, frontiers, late events);
- :mod:`monitor.store.windows`: the window writer and the window, summary and late queries;
- :mod:`monitor.store.performance`: the label join's records and performance windows;
- :mod:`monitor.store.quarantine`, :mod:`monitor.store.settings`: refused data, job settings.

:class:`Store` keeps the methods callers used before the split, each a one-line delegation,
so that code and tests need not change with the layout; new code may call the modules.

The checkpoint is the heart of the exactly-once effect. :meth:`Store.checkpoint` writes, in ONE
transaction, in this order:

1. pane sketches changed since the last checkpoint (upsert) and panes whose windows all closed
   (delete);
2. closed windows and their summaries (upsert on the natural key: a replayed window overwrites
   itself with the same values);
3. late-event counts (added);
4. per-source positions and watermarks, and per-model frontiers (upsert);
5. (Kafka) closing across processes, see :mod:`monitor.closing`;
6. hooks: the label join's records and performance panes and windows, concept-drift events;
   alert evaluation and its outbox.

A crash before the commit loses the whole delta, and the consumer re-reads from the positions of
the previous checkpoint, which rebuilds exactly the lost delta.

:meth:`Store.rejection` writes a delta and rolls it back, to find out which part of a refused
checkpoint the database refuses (:mod:`monitor.store.quarantine`).

>>> store = Store("sqlite://")
>>> store.upgrade()
>>> store.windows("m")
[]
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import Connection

from monitor.engine import ClosedWindow, EngineState
from monitor.exceptions import StoreRejected
from monitor.reference import ReferenceProfile
from monitor.store import db, quarantine, references, state, windows
from monitor.store.performance import PerformanceRepository

__all__ = ["Hook", "Store"]

#: step 6 of the checkpoint: called with the transaction, the state and every window closed
Hook = Callable[[Connection, EngineState, list[ClosedWindow]], None]


class Store(db.Database):
    """SQL persistence: a :class:`~monitor.store.db.Database` with the store's operations.

    ``url`` is any SQLAlchemy URL; SQLite files get WAL mode.
    """

    def cursor(self, conn: Connection) -> AbstractContextManager[Any]:
        """:func:`monitor.store.db.cursor`."""
        return db.cursor(conn)

    # -- references --------------------------------------------------------------------------
    def save_reference(self, profile: ReferenceProfile) -> ReferenceProfile:
        """:func:`monitor.store.references.save`."""
        return references.save(self, profile)

    def get_reference(
        self,
        model_id: str,
        model_version: str,
        version: int | None = None,
        conn: Connection | None = None,
    ) -> ReferenceProfile | None:
        """:func:`monitor.store.references.get`."""
        return references.get(self, model_id, model_version, version, conn)

    def list_references(self, model_id: str | None = None) -> list[dict[str, Any]]:
        """:func:`monitor.store.references.listed`."""
        return references.listed(self, model_id)

    # -- checkpoint --------------------------------------------------------------------------
    def checkpoint(
        self,
        job: str,
        state: EngineState,
        close: Callable[[Connection], list[ClosedWindow]] | None = None,
        hooks: Sequence[Hook] = (),
    ) -> tuple[float, list[ClosedWindow]]:
        """Write ``state`` in one transaction (see the module docstring), then, in the same
        transaction, let ``close`` close the windows that every source's checkpointed
        watermark has passed (step 5), then run ``hooks`` (step 6: the label join's delta,
        alert evaluation and its outbox) with every window closed in this checkpoint.
        Returns (seconds taken, windows closed by ``close``)."""
        started = time.perf_counter()
        with self.tx() as conn:
            closed = _write_checkpoint(conn, job, state, close, hooks)
        return time.perf_counter() - started, closed

    def rejection(
        self, job: str, state: EngineState, hooks: Sequence[Hook] = ()
    ) -> StoreRejected | None:
        """Why the database refuses ``state`` as a checkpoint (without the closing step), or
        None if it takes it: written in a transaction that is then rolled back. An unreachable
        database raises :class:`~monitor.exceptions.StoreUnavailable`."""
        try:
            with self.tx(rollback=True) as conn:
                _write_checkpoint(conn, job, state, None, hooks)
        except StoreRejected as exc:
            return exc
        return None

    # -- shared closing (called inside a checkpoint transaction) -----------------------------
    def source_marks(self, conn: Connection, job: str) -> dict[str, tuple[int | None, int | None]]:
        """:func:`monitor.store.state.source_marks`."""
        return state.source_marks(conn, job)

    def lock_frontier(self, conn: Connection, job: str, model_id: str) -> int | None:
        """:func:`monitor.store.state.lock_frontier`."""
        return state.lock_frontier(conn, job, model_id)

    def set_frontier(self, conn: Connection, job: str, model_id: str, pane: int) -> None:
        """:func:`monitor.store.state.set_frontier`."""
        state.set_frontier(conn, job, model_id, pane)

    def model_panes(
        self, conn: Connection, job: str, model_id: str, upto: int
    ) -> dict[tuple[str, str, int], bytes]:
        """:func:`monitor.store.state.model_panes`."""
        return state.model_panes(conn, job, model_id, upto)

    def drop_panes(self, conn: Connection, job: str, model_id: str, below: int) -> None:
        """:func:`monitor.store.state.drop_panes`."""
        state.drop_panes(conn, job, model_id, below)

    def put_panes(
        self, conn: Connection, job: str, model_id: str, panes: dict[tuple[str, str, int], bytes]
    ) -> None:
        """:func:`monitor.store.state.put_panes`."""
        state.put_panes(conn, job, model_id, panes)

    def write_windows(self, conn: Connection, closed: list[ClosedWindow]) -> None:
        """:func:`monitor.store.windows.write`."""
        windows.write(conn, closed)

    # -- load and reset ----------------------------------------------------------------------
    def load_state(self, job: str, sources: Iterable[str] | None = None) -> EngineState:
        """:func:`monitor.store.state.load`."""
        return state.load(self, job, sources)

    def reset(self, job: str) -> None:
        """:func:`monitor.store.state.reset`."""
        state.reset(self, job)

    # -- queries -----------------------------------------------------------------------------
    def windows(
        self,
        model_id: str,
        feature: str | None = None,
        since_ms: int | None = None,
        version: str | None = None,
        segment: str | None = "",
    ) -> list[dict[str, Any]]:
        """:func:`monitor.store.windows.windows`."""
        return windows.windows(self, model_id, feature, since_ms, version, segment)

    def summaries(
        self, model_id: str, since_ms: int | None = None, segment: str | None = ""
    ) -> list[dict[str, Any]]:
        """:func:`monitor.store.windows.summaries`."""
        return windows.summaries(self, model_id, since_ms, segment)

    def late_counts(self, model_id: str) -> dict[tuple[str, int], int]:
        """:func:`monitor.store.windows.late_counts`."""
        return windows.late_counts(self, model_id)

    def performance(self, model_id: str, version: str | None = None) -> list[dict[str, Any]]:
        """:meth:`monitor.store.performance.PerformanceRepository.metric_rows`."""
        return PerformanceRepository(self).metric_rows(model_id, version)

    def quarantined(self, job: str | None = None) -> list[dict[str, Any]]:
        """:func:`monitor.store.quarantine.quarantined`."""
        return quarantine.quarantined(self, job)


def _write_checkpoint(
    conn: Connection,
    job: str,
    engine_state: EngineState,
    close: Callable[[Connection], list[ClosedWindow]] | None,
    hooks: Sequence[Hook],
) -> list[ClosedWindow]:
    """The steps of :meth:`Store.checkpoint` (the module docstring), in order, in ``conn``'s
    transaction; returns the windows ``close`` closed."""
    s = engine_state
    state.write_panes(conn, job, s.panes, s.deleted)  # 1
    windows.write(conn, s.windows)  # 2
    state.add_late(conn, job, s.late)  # 3
    state.write_positions(conn, job, s.offsets, s.watermarks, s.idle)  # 4
    closed: list[ClosedWindow] = []
    if close is not None:
        closed = close(conn)  # 5: the closing sets the frontiers it moves
    else:
        state.write_frontiers(conn, job, s.frontiers)  # 4
    for hook in hooks:
        hook(conn, s, s.windows + closed)  # 6
    return closed
