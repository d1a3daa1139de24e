"""Reading the database for the read-only commands, without SQLAlchemy where it can.

The queries of :mod:`monitor.store.windows` are plain SQL with ``:name`` parameters, run by a
:class:`Reader`: a :class:`~monitor.store.db.Database` (SQLAlchemy, any database), or, for a
SQLite file whose schema is at the head, a :class:`SqliteReader` on the standard library's
``sqlite3``. Importing SQLAlchemy costs ``monitor windows`` more than everything else it does
(0.2 s of CPU here, 3.5 times a bare ``python -c "import click"``), so :func:`open_reader` leaves
it out when the database needs no migration. Values come back as the driver gives them (SQLite:
JSON columns as text, booleans as 0/1); the queries normalise them.

This module imports only the standard library, so that the read path stays light; the head
revision lives here for the same reason (:meth:`Database.upgrade` compares with it too).

>>> import tempfile
>>> from monitor.store.db import Database
>>> path = f"{tempfile.mkdtemp()}/m.db"
>>> Database(f"sqlite:///{path}").upgrade()
>>> reader = open_reader(f"sqlite:///{path}")
>>> type(reader).__name__, reader.rows("SELECT count(*) AS n FROM windows", {})
('SqliteReader', [{'n': 0}])
>>> type(open_reader("sqlite://")).__name__  # in memory: nothing to read without migrating
'Database'
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from monitor.store.db import Database

__all__ = ["MIGRATIONS", "REVISION_SQL", "Reader", "SqliteReader", "head_revision", "open_reader"]

MIGRATIONS = Path(__file__).with_name("migrations")
#: The schema's Alembic revision (no such table before the first migration).
REVISION_SQL = "SELECT version_num FROM alembic_version"

#: A SQLite file URL as SQLAlchemy reads it (``sqlite:///relative``, ``sqlite:////absolute``),
#: without the query arguments, escapes or in-memory names this module leaves to SQLAlchemy.
_SQLITE_FILE = re.compile(r"sqlite(?:\+pysqlite)?:///([^?%]+)")


class Reader(Protocol):
    """What the read queries need of a database."""

    def rows(self, sql: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The rows of ``sql`` (``:name`` parameters), as column -> the driver's value."""
        ...


class SqliteReader:
    """A SQLite database file read with ``sqlite3``: what :class:`Database` does for reads,
    without loading SQLAlchemy. Errors leave as :class:`~monitor.exceptions.StoreError`, as
    from :meth:`Database.tx`."""

    def __init__(self, path: str, url: str) -> None:
        self.url = url
        # the timeout as Database's: wait for a checkpoint's write lock rather than fail
        self._conn = sqlite3.connect(path, timeout=30)

    def rows(self, sql: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        try:
            cur = self._conn.execute(sql, dict(params))
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
        except sqlite3.Error as exc:
            from monitor.store.errors import store_error

            raise store_error(exc, self.url) from exc

    def revision(self) -> str | None:
        """The schema's Alembic revision (None before the first migration)."""
        try:
            row = self._conn.execute(REVISION_SQL).fetchone()
        except sqlite3.Error:  # no such table yet: open_reader migrates through Database
            return None
        return None if row is None else str(row[0])

    def close(self) -> None:
        self._conn.close()


def open_reader(url: str) -> SqliteReader | Database:
    """A reader of the database at ``url``: a :class:`SqliteReader` for a SQLite file whose
    schema is at the head, else a :class:`Database`, its schema upgraded (which creates a
    missing SQLite file, as every command does)."""
    file = _SQLITE_FILE.fullmatch(url)
    if file and Path(file[1]).is_file():
        reader = SqliteReader(file[1], url)
        if reader.revision() == head_revision():
            return reader
        reader.close()
    from monitor.store.db import Database

    db = Database(url)
    db.upgrade()
    return db


def head_revision() -> str:
    """The newest migration's revision: each revision is named by its file's 4-digit prefix
    (``0011_drift_detectors.py`` is revision ``"0011"``; a test holds Alembic to it)."""
    return max(p.name[:4] for p in (MIGRATIONS / "versions").glob("[0-9][0-9][0-9][0-9]_*.py"))
