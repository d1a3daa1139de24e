r"""PostgreSQL bulk writes: rows COPY'd into a temporary staging table, then moved into their
table by one statement.

psycopg2 has no fast executemany: ``execute_values`` renders every row with ``mogrify`` into a
statement the server then parses, which cost the label join three quarters of its time on
PostgreSQL (200,000 join records upserted at 15,000 rows/s, ``python -m bench --only labels``
profiled). ``COPY`` streams the same rows in a fraction of that, and one ``INSERT ... SELECT``
or ``UPDATE ... FROM`` over the staged rows is one round trip.

The staging table lives for the transaction (``ON COMMIT DROP``), so a checkpoint that fails
leaves none behind; it is emptied before each use, so a transaction may stage twice. A value
PostgreSQL refuses (too long for its column, a NUL character) fails the ``COPY`` or the move
with the database's error, as the ``INSERT`` it replaces did.

>>> copy_text([("a,b", None, 3, 0.5), ('x "y" z', "", -1, None)]).split("\n")
['"a,b",\\N,3,0.5', '"x ""y"" z","",-1,\\N', '']
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["NULL", "copy", "copy_text", "stage"]


class _Null(float):
    """None in a row to COPY: a number to the csv module (never quoted), whose spelling is
    COPY's null marker, so a quoted ``"\\N"`` stays a string and ``""`` an empty one (the csv
    module writes None as ``""``). Its spelling is the string's own method, C code: a method
    in Python was a call into the interpreter per null value written."""

    __repr__ = __str__ = "\\N".__str__


#: None to COPY: rows built with it in place of None skip :func:`copy_text`'s replacement
NULL = _Null()


def copy_text(rows: Iterable[Sequence[Any]]) -> str:
    """``rows`` in COPY's CSV format with ``\\N`` for None (as :func:`stage` reads it): strings
    quoted, numbers as Python spells them (a float's shortest exact spelling, which PostgreSQL
    reads back to the same float). Written by the csv module, in C: escaping each value in
    Python cost as much as the server's whole update."""
    out = io.StringIO()
    csv.writer(out, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n").writerows(
        row if None not in row else [NULL if v is None else v for v in row] for row in rows
    )
    return out.getvalue()


def stage(cur: Any, name: str, table: str, columns: str, rows: Iterable[Sequence[Any]]) -> None:
    """COPY ``rows`` (values of ``columns``, comma-separated, in order) into the temporary table
    ``name``, which then holds only them. Created if this transaction has none yet, with the
    types ``columns`` have in ``table``, so a value ``table`` refuses fails the COPY already.
    ``cur``: a psycopg2 cursor in the transaction."""
    cur.execute(
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {name} ON COMMIT DROP AS "
        f"SELECT {columns} FROM {table} WITH NO DATA"
    )
    cur.execute(f"TRUNCATE {name}")
    copy(cur, name, columns, rows)


def copy(cur: Any, table: str, columns: str, rows: Iterable[Sequence[Any]]) -> None:
    """COPY ``rows`` (values of ``columns``, comma-separated, in order) into ``table``."""
    cur.copy_expert(
        f"COPY {table} ({columns}) FROM STDIN WITH (FORMAT csv, NULL '\\N')",
        io.StringIO(copy_text(rows)),
    )
