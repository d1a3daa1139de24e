"""Alembic environment: run against the connection handed in by :mod:`monitor.store`, or the
URL in ``sqlalchemy.url`` when run from the alembic CLI."""

from alembic import context
from sqlalchemy import Connection, engine_from_config, pool

from monitor.store.schema import metadata

config = context.config
connection = config.attributes.get("connection")


def run(conn: Connection) -> None:
    context.configure(connection=conn, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


if connection is not None:
    run(connection)
else:
    section = config.get_section(config.config_ini_section, {})
    engine = engine_from_config(section, prefix="sqlalchemy.", poolclass=pool.NullPool)
    with engine.connect() as conn:
        run(conn)
