"""Persistence: SQLAlchemy 2 (SQLite by default, PostgreSQL in production), Alembic migrations."""

from monitor.store.store import Store

__all__ = ["Store"]
