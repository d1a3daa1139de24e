"""Benchmarks: ``python -m bench`` (``make bench``)."""

from __future__ import annotations

import os
import statistics
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

#: The local PostgreSQL the tests use (tests/conftest.py); each measurement gets a fresh database.
PG_ADMIN_URL = os.environ.get(
    "MONITOR_TEST_PG", "postgresql+psycopg2://postgres@127.0.0.1:5432/test"
)


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM). Unlike ``getrusage().ru_maxrss``, which
    survives ``exec`` and so reports the parent's peak in a freshly spawned child, VmHWM belongs
    to the process's own address space."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


@contextmanager
def pg_database() -> Iterator[str]:
    """The URL of a fresh PostgreSQL database on the local server, dropped afterwards."""
    from sqlalchemy import create_engine, text

    name = f"bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def database(kind: str) -> Iterator[str]:
    """The URL of a fresh database of ``kind`` (sqlite: a file in a temporary directory;
    postgresql: :func:`pg_database`), gone afterwards."""
    if kind == "postgresql":
        with pg_database() as url:
            yield url
    else:
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite:///{tmp}/bench.db"


def medians(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per key, the median of the runs' numbers (a value that is not a number: the first run's).

    >>> medians([{"rate": 3.0, "n": "a"}, {"rate": 1.0, "n": "a"}, {"rate": 2.0, "n": "a"}])
    {'rate': 2.0, 'n': 'a'}
    """
    return {
        k: statistics.median(r[k] for r in runs) if isinstance(v, int | float) else v
        for k, v in runs[0].items()
    }


def repeat(n: int, measure: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """The medians of ``n`` runs of ``measure``."""
    return medians([measure() for _ in range(n)])
