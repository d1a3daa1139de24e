"""Persistence: SQLAlchemy 2 (SQLite by default, PostgreSQL in production), Alembic migrations.

:class:`Store` is the facade callers use; the modules behind it, one per responsibility, are
listed in :mod:`monitor.store.store`. ``Store`` is imported on first use (PEP 562): the facade
imports the engine (and river, scipy with it), which the read-only commands that query
:mod:`monitor.store.windows` through a :class:`monitor.store.reading.Reader` need not load.

>>> from monitor.store import Store
>>> Store.__module__
'monitor.store.store'
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from monitor.store.store import Store

__all__ = ["Store"]


def __getattr__(name: str) -> Any:
    """Import ``Store`` on first use (PEP 562) and keep it."""
    if name != "Store":
        raise AttributeError(f"module 'monitor.store' has no attribute {name!r}")
    from monitor.store.store import Store

    globals()["Store"] = Store
    return Store
