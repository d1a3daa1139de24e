"""Rendering persisted rows for people (tables) and programs (JSON)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

__all__ = ["iso", "table", "window_json"]


def iso(ms: int) -> str:
    """Epoch milliseconds as an RFC 3339 UTC timestamp.

    >>> iso(0)
    '1970-01-01T00:00:00Z'
    """
    return dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc).isoformat().replace("+00:00", "Z")


def window_json(row: dict[str, Any], late: int | None = 0) -> dict[str, Any]:
    """A persisted window row in the ``monitor windows --format json`` contract (``segment``:
    "key=value", or None for the whole model version)."""
    return {
        "model_id": row["model_id"],
        "model_version": row["model_version"],
        "segment": row["segment"] or None,
        "feature": row["feature"],
        "kind": row["kind"],
        "window_start": iso(row["window_start"]),
        "window_end": iso(row["window_end"]),
        "count": row["count"],
        "missing": row["missing"],
        "late": late,
        "statistics": row["statistics"],
        "quality": row["quality"],
        "previous": row["previous"],
        "drift": row["drift"],
        "severity": row["severity"],
        "baseline": row["baseline"],
        "reference_version": row["reference_version"],
    }


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain aligned text table.

    >>> print(table(["a", "bb"], [[1, "x"], [22, None]]))
    a   bb
    1   x
    22  -
    """
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
