"""The SQL store as one object: :class:`Store`, a thin facade over the store's modules.

The store is split by responsibility, each module importing only :mod:`monitor.store.db` and
:mod:`monitor.store.schema` of the store (no import circle, nothing above the store):

- :mod:`monitor.store.db`: engine, dialect setup, migrations, transactions, upserts;
- :mod:`monitor.store.references`: reference profiles;
- :mod:`monitor.store.state`: pipeline state (panes, positions, frontiers, late events);
- :mod:`monitor.store.windows`: the window writer and the window, summary and late queries;
- :mod:`monitor.store.performance`: the label join's records and performance windows;
- :mod:`monitor.store.quarantine`, :mod:`monitor.store.settings`: refused data, job settings.

:class:`Store` offers the operations callers outside the pipeline use (references, loading
and resetting state, queries), each a one-line delegation. The checkpoint writes through the
modules themselves, in the order :meth:`monitor.pipeline.checkpoint.Checkpointer.transaction`
gives.

>>> store = Store("sqlite://")
>>> store.upgrade()
>>> store.windows("m")
[]
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import Connection

from monitor.engine import EngineState
from monitor.reference import ReferenceProfile
from monitor.store import db, quarantine, references, state, windows
from monitor.store.performance import PerformanceRepository

__all__ = ["Store"]


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
