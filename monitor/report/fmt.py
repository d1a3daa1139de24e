"""Text and colour for the report: escaping, numbers, times, the heat scale.

Every text that reaches the page from outside (feature names, versions, segments, categories,
rule names) goes through :func:`esc`, in element text and attributes alike.

>>> esc('<script>alert("x")</script>')
'&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;'
"""

from __future__ import annotations

import datetime as dt
import html
import math
from typing import Any

from monitor.config import Threshold

__all__ = [
    "CUR_COLOR",
    "REF_COLOR",
    "SEVERITY_COLOR",
    "duration",
    "esc",
    "heat_color",
    "num",
    "pct",
    "short",
    "ticks",
    "when",
]

SEVERITY_COLOR = {"ok": "#2e7d32", "warning": "#ef6c00", "critical": "#c62828"}
REF_COLOR, CUR_COLOR = "#5c7cfa", "#f08c00"


def esc(value: Any) -> str:
    """``value`` as HTML text, safe in element content and in quoted attributes."""
    return html.escape(str(value), quote=True)


def short(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters (an ellipsis marks the cut), before escaping.

    >>> short("segment=ü" * 3, 12)
    'segment=üse…'
    """
    return text if len(text) <= limit else text[: limit - 1] + "…"


def num(value: float | None, digits: int = 3) -> str:
    """A number for people: ``digits`` significant digits, thousands separated.

    >>> num(0.123456), num(1234.5), num(None), num(2e-5)
    ('0.123', '1,234.5', '–', '2e-05')
    """
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if value == 0:
        return "0"
    if abs(value) >= 1e5 or abs(value) < 1e-3:
        return f"{value:.{digits}g}"
    if abs(value) < 1:
        return f"{value:.{digits}g}"
    return f"{value:,.{max(digits - 1, 1)}f}".rstrip("0").rstrip(".")


def pct(value: float | None) -> str:
    """A share as a percentage.

    >>> pct(0.1234), pct(None)
    ('12.3%', '–')
    """
    return "–" if value is None else f"{100 * value:.1f}%"


def when(ms: int, span_ms: int = 0) -> str:
    """An instant in UTC, as precise as a span of ``span_ms`` needs (0: to the minute).

    >>> when(0), when(90_000, 300_000)
    ('1970-01-01 00:00', '01-01 00:01:30')
    """
    t = dt.datetime.fromtimestamp(ms / 1000, dt.UTC)
    if span_ms and span_ms < 2 * 86_400_000:
        return t.strftime("%m-%d %H:%M:%S" if span_ms < 600_000 else "%m-%d %H:%M")
    return t.strftime("%Y-%m-%d %H:%M")


def duration(ms: int) -> str:
    """A duration the way the config spells it.

    >>> duration(600_000), duration(5_400_000), duration(1500)
    ('10m', '90m', '1.5s')
    """
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms >= size and ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms / 1000:g}s"


def ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """Round tick values covering [lo, hi].

    >>> ticks(0, 0.27)
    [0.0, 0.1, 0.2, 0.3]
    """
    if hi <= lo:
        hi = lo + 1
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw * 0.999)
    start = math.floor(lo / step + 1e-9) * step
    out = []
    k = 0
    while start + k * step <= hi + step * 0.999:
        out.append(round(start + k * step, 12))
        k += 1
    return out


def _mix(a: str, b: str, t: float) -> str:
    t = min(max(t, 0.0), 1.0)
    ca = [int(a[i : i + 2], 16) for i in (1, 3, 5)]
    cb = [int(b[i : i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(x + (y - x) * t):02x}" for x, y in zip(ca, cb))


def heat_color(value: float | None, threshold: Threshold | None) -> str:
    """Colour of a statistic against its thresholds: green below warning, amber to orange up to
    critical, red beyond (darkest at twice critical).

    >>> heat_color(0.0, Threshold(warning=0.1, critical=0.25)), heat_color(None, None)
    ('#e8f5e9', '#e0e0e0')
    """
    if value is None:
        return "#e0e0e0"
    w, c = (threshold.warning, threshold.critical) if threshold else (0.1, 0.25)
    if value < w:
        return _mix("#e8f5e9", "#c5e1a5", value / w if w else 1)
    if value < c:
        return _mix("#ffe082", "#fb8c00", (value - w) / (c - w) if c > w else 1)
    return _mix("#e53935", "#7f0000", (value - c) / c if c else 1)
