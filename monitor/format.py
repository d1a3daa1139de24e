"""Rendering persisted rows for people (tables) and programs (JSON)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from monitor.drift import ColumnResult, higher_is_worse

__all__ = ["column_marks", "iso", "table", "verdict_text", "window_json", "window_status"]


def iso(ms: int) -> str:
    """Epoch milliseconds as an RFC 3339 UTC timestamp.

    >>> iso(0)
    '1970-01-01T00:00:00Z'
    """
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat().replace("+00:00", "Z")


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
        "decided_by": row["decided_by"],
    }


def verdict_text(v: Mapping[str, Any] | None) -> str:
    """A column's ``decided_by`` for people: the statistic, its value and the threshold it
    reached (or, when ok, the warning threshold it stays short of).

    >>> verdict_text({"statistic": "wasserstein", "value": 0.44, "threshold": 0.4,
    ...               "severity": "critical"})
    'wasserstein=0.44 >= 0.4'
    >>> verdict_text({"statistic": "ks_pvalue", "value": 0.2, "threshold": 0.05,
    ...               "severity": "ok"})
    'ks_pvalue=0.2 > 0.05'
    """
    if v is None:
        return "-"
    higher = higher_is_worse(v["statistic"])
    reached = v["severity"] != "ok"
    sign = (">=" if reached else "<") if higher else ("<=" if reached else ">")
    return f"{v['statistic']}={v['value']:.3g} {sign} {v['threshold']:.3g}"


def column_marks(columns: Iterable[ColumnResult]) -> str:
    """The columns of a window that are not ok, each with its severity and what decided it:
    the drift line of ``monitor run``, ``monitor replay`` and ``monitor demo``.

    >>> col = ColumnResult("amount", "numeric", 10, 0, {"psi": 0.112}, {}, True, "critical",
    ...     decided_by={"statistic": "wasserstein", "value": 0.44, "threshold": 0.4,
    ...                 "severity": "critical"})
    >>> column_marks([col])
    'amount (critical: wasserstein=0.44 >= 0.4)'
    """
    return ", ".join(
        f"{c.feature} ({c.severity}: {verdict_text(c.decided_by)})"
        for c in columns
        if c.severity != "ok"
    )


def window_status(columns: Sequence[ColumnResult]) -> str | None:
    """``DRIFT: <marks>`` when a column drifted, ``QUALITY: <marks>`` when only data quality is
    off, None when every column is ok (see :func:`column_marks`)."""
    marks = column_marks(columns)
    if not marks:
        return None
    return f"{'DRIFT' if any(c.drift for c in columns) else 'QUALITY'}: {marks}"


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
