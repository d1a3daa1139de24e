"""Persistence: SQLAlchemy 2 (SQLite by default, PostgreSQL in production), Alembic migrations.

:class:`Store` is the facade callers use; the modules behind it, one per responsibility, are
listed in :mod:`monitor.store.store`.
"""

from monitor.store.store import Store

__all__ = ["Store"]
