"""The database: engine and dialect setup, migrations, transactions, upserts, raw cursors.

The bottom of :mod:`monitor.store`: every other store module writes through :func:`upsert` and
:func:`cursor` inside a transaction of :meth:`Database.tx`, and imports nothing of the store but
this module and :mod:`monitor.store.schema`, so the store has no import circle. The helpers that
act inside a transaction take a :class:`~sqlalchemy.Connection` and read the dialect from it,
so the checkpoint's steps (:mod:`monitor.store.state`, :mod:`monitor.store.windows`) need no
store object at all.

Every error of the database, whichever way it is raised (SQLAlchemy, a raw driver cursor, a
value the driver cannot send), leaves here as a :class:`~monitor.exceptions.StoreError` that
says whether retrying can help (:mod:`monitor.store.errors`).

>>> from monitor.store import schema
>>> db = Database("sqlite://")
>>> db.upgrade()
>>> with db.tx() as conn:
...     upsert(conn, schema.late_events, [
...         {"job": "j", "model_id": "m", "model_version": "v", "pane_start": 0, "count": 2}])
...     upsert(conn, schema.late_events, [
...         {"job": "j", "model_id": "m", "model_version": "v", "pane_start": 0, "count": 3}],
...         add=("count",))
...     conn.execute(schema.late_events.select()).one().count
5
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from importlib import import_module
from operator import itemgetter
from typing import Any, NamedTuple

import msgspec
from sqlalchemy import (
    JSON,
    Boolean,
    Connection,
    Engine,
    Float,
    Integer,
    LargeBinary,
    String,
    Table,
    create_engine,
    event,
    text,
)
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import StaticPool

from monitor.exceptions import StoreError
from monitor.jsonsafe import json_text
from monitor.store.errors import DRIVER_VALUE_ERRORS, store_error
from monitor.store.reading import MIGRATIONS, REVISION_SQL, head_revision

__all__ = ["Database", "cursor", "dialect_insert", "head_revision", "safe_url", "upsert"]


class Database:
    """A SQLAlchemy engine for ``url`` (any SQLAlchemy URL; SQLite files get WAL mode), its
    migrations and its transactions.

    >>> db = Database("sqlite://")
    >>> db.dialect, db.ping()
    ('sqlite', True)
    """

    def __init__(self, url: str, engine: Engine | None = None) -> None:
        self.url = url
        # JSON columns (window statistics, quality histograms) through msgspec: json.dumps cost
        # the window writer most of its time (16 models: 2.8 s of 6.4 s writing 272 windows),
        # and json.loads half of loading a reference profile
        kwargs: dict[str, Any] = {
            "future": True,
            "json_serializer": _json,
            "json_deserializer": _unjson,
        }
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"timeout": 30}
            if url in ("sqlite://", "sqlite:///:memory:"):
                kwargs["poolclass"] = StaticPool
                kwargs["connect_args"]["check_same_thread"] = False
        else:
            kwargs["pool_pre_ping"] = True
        self.engine = engine or create_engine(url, **kwargs)
        self.dialect = self.engine.dialect.name
        if self.dialect == "sqlite":
            _sqlite_setup(self.engine)
        _classify_value_errors(self.engine)

    @property
    def safe_url(self) -> str:
        """The URL with its password hidden, for messages."""
        return safe_url(self.engine)

    def upgrade(self, revision: str = "head") -> None:
        """Bring the schema to ``revision`` with Alembic. A schema already at the head is left
        as it is without loading Alembic (0.4 s of every read-only command's start)."""
        if revision == "head" and self.revision() == head_revision():
            return
        from alembic import command
        from alembic.config import Config as AlembicConfig

        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        try:
            with self.engine.begin() as conn:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, revision)
        except SQLAlchemyError as exc:
            raise StoreError(f"database migration failed on {self.safe_url}: {exc}") from exc

    def revision(self) -> str | None:
        """The schema's Alembic revision (None before the first migration)."""
        try:
            with self.engine.connect() as conn:
                return conn.execute(text(REVISION_SQL)).scalar()
        except SQLAlchemyError:  # no such table yet (or no database: upgrade() says why)
            return None

    @contextmanager
    def tx(self, conn: Connection | None = None, rollback: bool = False) -> Iterator[Connection]:
        """A transaction (committed, or rolled back with ``rollback``), or ``conn``'s own;
        database errors leave it as :class:`StoreError` subclasses."""
        if conn is not None:
            yield conn
            return
        try:
            with self.engine.connect() as own, own.begin() as tx:
                yield own
                if rollback:
                    tx.rollback()
        except SQLAlchemyError as exc:
            raise store_error(exc, self.safe_url) from exc

    def rows(self, sql: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The rows of ``sql`` (``:name`` parameters) in a transaction of their own, as column
        -> the driver's value: a :class:`monitor.store.reading.Reader`."""
        with self.tx() as conn:
            return [dict(r) for r in conn.execute(text(sql), dict(params)).mappings()]

    def ping(self) -> bool:
        """Whether the database answers."""
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except SQLAlchemyError:
            return False


def safe_url(engine: Engine) -> str:
    """``engine``'s URL with its password hidden."""
    return engine.url.render_as_string(hide_password=True)


def upsert(
    conn: Connection, table: Table, rows: Sequence[dict[str, Any]], add: Iterable[str] = ()
) -> None:
    """Insert or update ``rows`` (dicts with the same keys) on the primary key; columns in
    ``add`` are incremented instead (the module docstring has an example)."""
    if not rows:
        return
    driver = f"{conn.dialect.name}+{conn.dialect.driver}"
    plan = _plan(driver, table, tuple(rows[0]), tuple(add)) if driver in _DRIVERS else None
    if plan is None:
        conn.execute(_upsert_statement(conn.dialect.name, table, tuple(add)), list(rows))
        return
    values: list[Any] = [plan.pick(row) for row in rows]
    if plan.encoders:
        values = [_encoded(v, plan.encoders) for v in values]
    with cursor(conn) as raw:
        if plan.template is None:
            raw.executemany(plan.sql, values)
        else:  # many rows a statement: psycopg2's executemany is a round trip a row
            from psycopg2.extras import execute_values

            execute_values(raw, plan.sql, values, template=plan.template, page_size=1000)


def _upsert_statement(dialect: str, table: Table, add: tuple[str, ...]) -> Any:
    stmt = dialect_insert(dialect, table)
    keys = [c.name for c in table.primary_key.columns]
    updates = {
        c.name: (table.c[c.name] + stmt.excluded[c.name])
        if c.name in add
        else stmt.excluded[c.name]
        for c in table.columns
        if c.name not in keys
    }
    return stmt.on_conflict_do_update(index_elements=keys, set_=updates)


def _as_bool(value: Any) -> Any:
    return value if value is None else bool(value)  # numpy's bools too, as SQLAlchemy


#: The drivers whose upserts bind their rows themselves
_DRIVERS = ("sqlite+pysqlite", "postgresql+psycopg2")
#: How they send each column type's values (None: as they are; JSON as SQLAlchemy writes it,
#: None as JSON's "null"; sqlite3 stores a bool as 1 or 0, as SQLAlchemy's int)
_BINDS: dict[type, Callable[[Any], Any] | None] = {
    Integer: None,  # BigInteger too (a subclass)
    String: None,
    Float: None,
    LargeBinary: None,
    Boolean: _as_bool,
    JSON: json_text,
}


class _Plan(NamedTuple):
    sql: str
    template: str | None  # psycopg2's execute_values: one row's placeholders (None: SQLite)
    pick: Callable[[dict[str, Any]], tuple[Any, ...]]
    encoders: list[tuple[int, Callable[[Any], Any]]]


@functools.lru_cache(maxsize=256)
def _plan(
    driver: str, table: Table, columns: tuple[str, ...], add: tuple[str, ...]
) -> _Plan | None:
    """The upsert of ``columns`` into ``table`` as the driver's SQL, compiled once, with what
    picks a row's values in its order and the encoders of those not sent as they are;
    None when a column's type is not one :data:`_BINDS` knows. SQLAlchemy's per-row
    parameter handling took two thirds of writing 8,400 window rows on SQLite, and on
    PostgreSQL its executemany sent them one round trip a row (0.3 ms each)."""
    dialect_name = driver.partition("+")[0]
    dialect = import_module("sqlalchemy.dialects." + dialect_name).dialect(
        paramstyle="qmark" if dialect_name == "sqlite" else "format"
    )
    compiled = _upsert_statement(dialect_name, table, add).compile(
        dialect=dialect, column_keys=list(columns)
    )
    names = list(compiled.positiontup or ())
    encoders = []
    for i, name in enumerate(names):
        kind = next((k for k in _BINDS if isinstance(table.c[name].type, k)), None)
        if kind is None:
            return None
        encode = _BINDS[kind]
        if encode is not None:
            encoders.append((i, encode))
    pick = itemgetter(*names) if len(names) > 1 else (lambda row: (row[names[0]],))
    sql, template = str(compiled), None
    if dialect_name == "postgresql":  # VALUES (%s, ...) -> VALUES %s, a template a row
        head, _, rest = sql.partition(" VALUES (")
        row, _, tail = rest.partition(") ON CONFLICT ")
        sql, template = f"{head} VALUES %s ON CONFLICT {tail}", f"({row})"
    return _Plan(sql, template, pick, encoders)


def _encoded(values: tuple[Any, ...], encoders: list[tuple[int, Any]]) -> list[Any]:
    out = list(values)
    for i, encode in encoders:
        out[i] = encode(out[i])
    return out


def dialect_insert(dialect: str, table: Table) -> Any:
    """The INSERT of ``dialect`` (``"postgresql"`` or ``"sqlite"``) into ``table``, with its
    ON CONFLICT clauses. Only that dialect's package is imported: PostgreSQL's loads all its
    drivers (asyncpg ...), 30-50 ms a SQLite run needs not."""
    module = import_module(
        "sqlalchemy.dialects." + ("postgresql" if dialect == "postgresql" else "sqlite")
    )
    return module.insert(table)


@contextmanager
def cursor(conn: Connection) -> Iterator[Any]:
    """A raw driver cursor in ``conn``'s transaction, for bulk writes SQLAlchemy would slow
    down; what the driver raises leaves it as a :class:`StoreError`, as from
    :meth:`Database.tx`."""
    # typed Optional (a detached pool entry has none); a connection in a transaction has one
    raw = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        yield raw
    except (conn.dialect.loaded_dbapi.Error, *DRIVER_VALUE_ERRORS) as exc:
        dbapi = conn.dialect.loaded_dbapi
        if isinstance(exc, dbapi.Error) and conn.dialect.is_disconnect(
            exc, conn.connection.dbapi_connection, raw
        ):
            conn.invalidate()  # as SQLAlchemy does for its own statements: no rollback on it
        raise store_error(exc, safe_url(conn.engine)) from exc
    finally:
        raw.close()


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # SQLAlchemy issues BEGIN itself (below)
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        # Take the write lock up front: two processes checkpointing at once then wait
        # for each other (busy timeout) instead of failing on a lock upgrade.
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _classify_value_errors(engine: Engine) -> None:
    @event.listens_for(engine, "handle_error")
    def _value_errors(ctx: Any) -> StoreError | None:
        # A value the driver cannot send (psycopg2: a NUL character; sqlite3: an integer past
        # 64 bits) raises a plain ValueError/OverflowError, which SQLAlchemy does not wrap.
        raised = ctx.original_exception
        if ctx.sqlalchemy_exception is None and isinstance(raised, DRIVER_VALUE_ERRORS):
            return store_error(raised, safe_url(engine))
        return None


def _unjson(text: str | bytes) -> Any:
    """A JSON column's value: msgspec, or Python's json for what msgspec refuses (a number
    beyond a float's range, which json reads as an infinity)."""
    try:
        return msgspec.json.decode(text)
    except msgspec.MsgspecError:
        return json.loads(text)


def _json(value: Any) -> str:
    """A JSON column's text, by :func:`monitor.jsonsafe.json_safe`'s rule (NaN is null)."""
    return json_text(value)
