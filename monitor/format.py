"""Rendering windows and persisted rows for people (lines, tables) and programs (JSON).

The terminal view of a closed window is :func:`window_lines` (every command that prints windows
as they close: ``run``, ``replay``, ``demo``), and of a performance window once its labels are
in, :func:`performance_line`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from monitor.stats.registry import higher_is_worse

if TYPE_CHECKING:  # not imported: `monitor windows` renders rows without numpy and the engine
    from monitor.drift import ColumnResult
    from monitor.engine import ClosedWindow

__all__ = [
    "column_marks",
    "iso",
    "performance_line",
    "span",
    "table",
    "verdict_text",
    "window_json",
    "window_lines",
    "window_status",
]

#: The metrics :func:`performance_line` shows, those a window has, in this order.
PERFORMANCE_METRICS = ("accuracy", "f1", "roc_auc", "mae", "rmse")


def iso(ms: int) -> str:
    """Epoch milliseconds as an RFC 3339 UTC timestamp.

    >>> iso(0)
    '1970-01-01T00:00:00Z'
    """
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat().replace("+00:00", "Z")


def span(start_ms: int, end_ms: int) -> str:
    """A window's span, the end without its date (windows end the day they start, or at the
    midnight after).

    >>> span(0, 600_000)
    '1970-01-01T00:00:00Z..00:10:00Z'
    """
    return f"{iso(start_ms)}..{iso(end_ms)[11:]}"


def window_lines(window: ClosedWindow) -> list[str]:
    """The terminal view of a closed window: one line naming the columns that are not ok with
    what decided their severity (:func:`window_status`), then one per segment with features that
    drifted there but not in the whole window (drift the whole population dilutes)."""
    w = window
    status = window_status(w.columns) or (
        "baseline (builds the reference)" if w.dataset.baseline else "ok"
    )
    where = f"{w.model_id} {w.model_version} {span(w.start_ms, w.end_ms)}"
    lines = [f"window {where} events={w.dataset.events:<6} {status}"]
    whole = set(w.dataset.drifted_features)
    for s in w.segments:
        only = [f for f in s.dataset.drifted_features if f not in whole]
        if only:
            lines.append(f"  segment {s.segment}: DRIFT there only: {', '.join(only)}")
    return lines


def performance_line(row: Mapping[str, Any]) -> str:
    """A ``performance_windows`` row for people: labels joined, and each metric it has realized
    (from the labels) next to estimated (from the scores, before labels come).

    >>> print(performance_line({"model_id": "m", "model_version": "v1", "window_start": 0,
    ...     "window_end": 600_000, "predictions": 100, "labeled": 98,
    ...     "metrics": {"accuracy": 0.912, "f1": 0.5, "coverage": 0.98},
    ...     "estimated": {"accuracy": 0.905, "f1": None}}))
    performance m v1 1970-01-01T00:00:00Z..00:10:00Z labeled=98/100 accuracy=0.912 (estimated \
0.905), f1=0.5
    """
    realized, estimated = row["metrics"] or {}, row["estimated"] or {}
    marks = []
    for metric in PERFORMANCE_METRICS:
        value, guess = realized.get(metric), estimated.get(metric)
        if value is None and guess is None:
            continue
        text = f"{metric}={_cell(value)}"
        if guess is not None:
            text += f" (estimated {_cell(guess)})"
        marks.append(text)
    where = (
        f"{row['model_id']} {row['model_version']} {span(row['window_start'], row['window_end'])}"
    )
    labeled = f"labeled={row['labeled']}/{row['predictions']}"
    return " ".join([f"performance {where} {labeled}", ", ".join(marks) or "no metrics yet"])


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

    >>> from monitor.drift import ColumnResult
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
