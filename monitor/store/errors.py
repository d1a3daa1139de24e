"""What the database raised, as a :class:`~monitor.exceptions.StoreError` that says whether
retrying can help.

One function, :func:`store_error`, classifies every way a database error reaches us: SQLAlchemy's
wrappers (the driver's error in ``orig``), a driver's own error from a raw cursor (sqlite3,
psycopg2: see :func:`monitor.store.db.cursor`), and the plain ``ValueError`` or
``OverflowError`` a driver raises for a value it cannot send (psycopg2: a NUL character; sqlite3:
an integer beyond 64 bits), which SQLAlchemy passes through unwrapped:

- the database or its disk is full (SQLite ``SQLITE_FULL``; PostgreSQL ``53100 disk_full``,
  "could not extend file", "No space left on device") -> :class:`StoreFull`;
- the data is refused -> :class:`StoreRejected`: PostgreSQL's classes ``22`` (data exception:
  too long, out of range, bad encoding) and ``23`` (constraint), ``54000`` (an index row too
  large); a driver that cannot bind a value; PEP 249's ``DataError`` and ``IntegrityError``, and
  ``ProgrammingError`` raised by the driver itself (PostgreSQL's come with a code and are about
  the schema or the statement, not the data);
- anything else (cannot connect, connection lost, locked, timed out, a missing table) ->
  :class:`StoreUnavailable`: the same write may succeed later.

>>> import sqlite3
>>> url = "sqlite:///m.db"
>>> type(store_error(sqlite3.OperationalError("database is locked"), url)).__name__
'StoreUnavailable'
>>> str(store_error(sqlite3.OperationalError("database or disk is full"), url))
'database full (sqlite:///m.db): database or disk is full'
>>> print(store_error(OverflowError("Python int too large to convert to SQLite INTEGER"), url))
database error (sqlite:///m.db): the database rejected the data: Python int too large to ...
"""

from __future__ import annotations

import sqlite3

from monitor.exceptions import StoreError, StoreFull, StoreRejected, StoreUnavailable

__all__ = ["DRIVER_VALUE_ERRORS", "store_error"]

#: What a driver raises, outside PEP 249's tree, for a value it cannot send.
DRIVER_VALUE_ERRORS = (ValueError, OverflowError)

_FULL_MESSAGES = ("database or disk is full", "could not extend file", "no space left on device")
_SQLITE_FULL = 13
_REJECTING_PG_CLASSES = ("22", "23")
_REJECTING_PG_CODES = ("54000",)
_REJECTING_KINDS = {"DataError", "IntegrityError"}
_MESSAGE_LIMIT = 500


def store_error(exc: BaseException, url: str) -> StoreError:
    """``exc`` (raised while talking to the database at ``url``, password hidden) as the
    :class:`StoreError` subclass that says what to do about it; chain it with ``from exc``."""
    # here, not at import: monitor.store.reading reads SQLite without loading SQLAlchemy
    from sqlalchemy.exc import DBAPIError

    cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    message = _message(cause)
    if _full(cause, message):
        return StoreFull(f"database full ({url}): {message}")
    if _rejecting(exc, cause):
        return StoreRejected(f"database error ({url}): the database rejected the data: {message}")
    return StoreUnavailable(f"database unavailable ({url}): {message}")


def _message(exc: BaseException) -> str:
    """The driver's message on one line, cut short (it may quote a huge value)."""
    text = (
        "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
        or type(exc).__name__
    )
    return text if len(text) <= _MESSAGE_LIMIT else text[: _MESSAGE_LIMIT - 3] + "..."


def _full(exc: BaseException, message: str) -> bool:
    if (
        getattr(exc, "sqlite_errorcode", None) == _SQLITE_FULL
        or getattr(exc, "pgcode", None) == "53100"
    ):
        return True
    return any(m in message.lower() for m in _FULL_MESSAGES)


def _rejecting(exc: BaseException, cause: BaseException) -> bool:
    from sqlalchemy.exc import DBAPIError, SQLAlchemyError, StatementError

    if isinstance(cause, (*DRIVER_VALUE_ERRORS, sqlite3.InterfaceError)):
        return True  # a value the driver could not bind (sqlite3's InterfaceError says so too)
    if isinstance(exc, StatementError) and not isinstance(exc, DBAPIError):
        return True  # SQLAlchemy could not turn a value into a parameter
    if isinstance(exc, SQLAlchemyError) and not isinstance(exc, DBAPIError):
        return False  # the pool timed out, a connection was lost
    code = getattr(cause, "pgcode", None)
    if code:
        return code[:2] in _REJECTING_PG_CLASSES or code in _REJECTING_PG_CODES
    kinds = {cls.__name__ for cls in type(cause).__mro__}
    return bool(kinds & _REJECTING_KINDS) or "ProgrammingError" in kinds
