"""Inline SVG charts: time series over whole windows, grouped bars (categories) and histograms
whose bars have their true widths (numeric bins of unequal width, such as deciles).

>>> axis = TimeAxis(0, 3_600_000, 120_000)
>>> svg = line_chart([Series("psi", "#000", [(60_000, 0.1), (180_000, 0.3)])], axis)
>>> svg.startswith('<svg class="chart"') and svg.count("<circle") == 2
True
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from monitor.report.fmt import esc, num, pct, ticks, when

__all__ = [
    "Series",
    "TimeAxis",
    "bar_chart",
    "density_chart",
    "line_chart",
    "tick_interval",
    "time_ticks",
    "y_grid",
]

EMPTY = '<p class="empty">no data</p>'
_S, _M, _H, _D = 1000, 60_000, 3_600_000, 86_400_000
#: Round intervals between labelled time ticks.
_ROUND = (
    *(n * _S for n in (1, 2, 5, 10, 15, 20, 30)),
    *(n * _M for n in (1, 2, 5, 10, 15, 20, 30)),
    *(n * _H for n in (1, 2, 3, 6, 12)),
    *(n * _D for n in (1, 2, 7, 14, 28)),
)


def tick_interval(step_ms: int, px_per_step: float, min_px: float = 90) -> int:
    """The interval between labelled ticks: the shortest round interval (10m, 1h...) that is a
    multiple of the window step ``step_ms`` and puts ticks ``min_px`` apart or more (within
    three times that); else the smallest such multiple of the step.

    >>> tick_interval(120_000, 20) // 60_000  # 2m windows, 20 px each: a label every 10m
    10
    >>> tick_interval(7_000, 30) // 1000  # 7s windows: no round interval fits
    21
    """
    need = min_px / max(px_per_step, 1e-9) * step_ms
    fallback = math.ceil(need / step_ms) * step_ms
    # A round interval far above what is needed (7d for 7s windows) would leave one tick.
    return next((d for d in _ROUND if d % step_ms == 0 and need <= d <= 3 * fallback), fallback)


@dataclass(frozen=True)
class TimeAxis:
    """A time axis over whole windows, ``start`` to ``end`` (ms): ticks fall on window
    boundaries, every ``step`` ms from ``start`` (the slide, for sliding windows)."""

    start: int
    end: int
    step: int

    def boundaries(self) -> range:
        return range(self.start, self.end + 1, self.step)

    def ticks(self, px: float, min_px: float = 90) -> list[int]:
        """Labelled ticks: window boundaries at least ``min_px`` apart on ``px`` pixels, on
        round multiples of the interval when the windows are aligned to them.

        >>> [t // 60_000 for t in TimeAxis(0, 3_600_000, 120_000).ticks(600)]
        [0, 10, 20, 30, 40, 50, 60]
        """
        steps = max(1, (self.end - self.start) // self.step)
        every = tick_interval(self.step, px / steps, min_px)
        phase = self.start % self.step  # windows aligned to an origin off the round multiples
        first = self.start + (phase - self.start) % every
        return list(range(first, self.end + 1, every))


@dataclass
class Series:
    name: str
    color: str
    points: Sequence[tuple[float, float | None]]
    dashed: bool = False


def _svg(width: float, height: float, cls: str = "chart") -> str:
    return (
        f'<svg class="{cls}" viewBox="0 0 {width:.0f} {height:.0f}" width="{width:.0f}" '
        f'height="{height:.0f}" role="img">'
    )


def y_grid(
    yticks: Sequence[float],
    left: float,
    width: float,
    sy: Callable[[float], float],
    label: Callable[[float], str] = num,
) -> str:
    """Horizontal grid lines at ``yticks``, labelled on the left."""
    return "".join(
        f'<line x1="{left}" x2="{left + width}" y1="{sy(t):.1f}" y2="{sy(t):.1f}" class="grid"/>'
        f'<text x="{left - 6}" y="{sy(t) + 4:.1f}" class="tick" text-anchor="end">{label(t)}</text>'
        for t in yticks
    )


def time_ticks(
    axis: TimeAxis, left: float, width: float, top: float, bottom: float, label_y: float
) -> str:
    """A mark at every window boundary (when they are 4 px apart or more) and a labelled tick
    with a grid line at round boundaries."""
    span = axis.end - axis.start or 1

    def sx(t: float) -> float:
        return left + (t - axis.start) / span * width

    out = []
    if width * axis.step / span >= 4:
        for t in axis.boundaries():
            out.append(
                f'<line x1="{sx(t):.1f}" x2="{sx(t):.1f}" y1="{bottom}" y2="{bottom + 3}" '
                'class="axis"/>'
            )
    for t in axis.ticks(width):
        x = sx(t)
        anchor = "start" if x - left < 40 else "end" if left + width - x < 40 else "middle"
        out.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{bottom + 6}" class="grid"/>'
            f'<text x="{x:.1f}" y="{label_y}" class="tick" text-anchor="{anchor}">'
            f"{when(t, span)}</text>"
        )
    return "".join(out)


def line_chart(
    series: Sequence[Series],
    axis: TimeAxis,
    *,
    width: int = 620,
    height: int = 210,
    y_max: float | None = None,
    lines: Iterable[tuple[float, str, str]] = (),
    percent: bool = False,
    y_min: float | None = None,
    mark: tuple[int, int] | None = None,
) -> str:
    """A time-series chart over ``axis``; a window's point sits at its middle. ``lines`` are
    horizontal (value, label, colour) references; ``mark`` shades one window (start, end). The
    y axis starts at 0 unless ``y_min`` is given."""
    lines = list(lines)
    values = [y for s in series for _, y in s.points if y is not None]
    if not values:
        return EMPTY
    x0, x1 = axis.start, max(axis.end, axis.start + 1)
    top_value = max([*values, *(v for v, _, _ in lines)])
    y1 = y_max if y_max is not None else (top_value * 1.1 if top_value > 0 else 1.0)
    y0 = min(0.0 if y_min is None else y_min, min(values))
    yticks = ticks(y0, y1, 4)
    y0, y1 = yticks[0], max(yticks[-1], y1)
    L, R, T, B = 56, 14, 10, 30
    pw, ph = width - L - R, height - T - B

    def sx(x: float) -> float:
        return L + (x - x0) / (x1 - x0) * pw

    def sy(y: float) -> float:
        return T + ph - (y - y0) / (y1 - y0) * ph

    out = [_svg(width, height)]
    out.append(y_grid(yticks, L, pw, sy, pct if percent else num))
    if mark is not None:
        a, b = sx(mark[0]), sx(mark[1])
        out.append(
            f'<rect x="{a:.1f}" y="{T}" width="{max(b - a, 2):.1f}" height="{ph}" '
            'fill="#1c7ed6" opacity="0.14"><title>the window detailed</title></rect>'
        )
    out.append(time_ticks(axis, L, pw, T, T + ph, height - 10))
    out.append(
        f'<line x1="{L}" x2="{L}" y1="{T}" y2="{T + ph}" class="axis"/>'
        f'<line x1="{L}" x2="{L + pw}" y1="{T + ph}" y2="{T + ph}" class="axis"/>'
    )
    labelled: list[float] = []
    for value, label, color in sorted(lines, reverse=True):
        if y0 <= value <= y1:
            at = sy(value)
            out.append(
                f'<line x1="{L}" x2="{L + pw}" y1="{at:.1f}" y2="{at:.1f}" stroke="{color}" '
                f'stroke-dasharray="5 4" stroke-width="1.2"><title>{esc(label)} {num(value)}'
                "</title></line>"
            )
            if all(abs(at - other) >= 12 for other in labelled):  # close labels would overlap
                out.append(
                    f'<text x="{L + 4}" y="{at - 4:.1f}" class="tick" fill="{color}">'
                    f"{esc(label)}</text>"
                )
                labelled.append(at)
    for s in series:
        out.append(_polyline(s, sx, sy, percent))
    out.append("</svg>")
    legend = "".join(
        f'<span class="key"><i style="background:{s.color}"></i>{esc(s.name)}'
        f"{' (dashed)' if s.dashed else ''}</span>"
        for s in series
        if len(series) > 1
    )
    return "".join(out) + (f'<div class="legend">{legend}</div>' if legend else "")


def _polyline(
    s: Series, sx: Callable[[float], float], sy: Callable[[float], float], percent: bool
) -> str:
    """A series as lines between consecutive points (a None breaks the line) and, when there are
    few enough, a dot per point with its value on hover."""
    runs: list[list[tuple[float, float]]] = [[]]
    for x, y in s.points:
        if y is None:
            runs.append([])
        else:
            runs[-1].append((x, y))
    dash = ' stroke-dasharray="6 4"' if s.dashed else ""
    out = [
        f'<polyline points="{" ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in run)}" '
        f'fill="none" stroke="{s.color}" stroke-width="2"{dash}/>'
        for run in runs
        if len(run) > 1
    ]
    shown = [(x, y) for x, y in s.points if y is not None]
    if len(shown) <= 60:
        out += [
            f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="2.6" fill="{s.color}"><title>'
            f"{esc(s.name)} {when(int(x))}: {pct(y) if percent else num(y, 4)}</title></circle>"
            for x, y in shown
        ]
    return "".join(out)


def bar_chart(
    labels: Sequence[str],
    groups: Sequence[tuple[str, str, Sequence[float]]],
    *,
    width: int = 620,
    height: int = 220,
    percent: bool = True,
) -> str:
    """Grouped vertical bars of equal width, one slot per label (categories): ``groups`` are
    (name, colour, values per label)."""
    n = len(labels)
    if not n:
        return EMPTY
    top = max((v for _, _, vals in groups for v in vals), default=0) or 1
    yticks = ticks(0, top * 1.05, 4)
    L, R, T, B = 48, 10, 10, 58
    pw, ph = width - L - R, height - T - B
    slot = pw / n
    bw = slot * 0.8 / max(len(groups), 1)

    def sy(y: float) -> float:
        return T + ph - y / yticks[-1] * ph

    out = [_svg(width, height)]
    out.append(y_grid(yticks, L, pw, sy, pct if percent else num))
    step = max(1, math.ceil(n / 24))
    for i, label in enumerate(labels):
        for g, (name, color, vals) in enumerate(groups):
            v = vals[i]
            x = L + i * slot + slot * 0.1 + g * bw
            out.append(
                f'<rect x="{x:.1f}" y="{sy(v):.1f}" width="{max(bw - 1, 1):.1f}" '
                f'height="{max(T + ph - sy(v), 0):.1f}" fill="{color}"><title>{esc(name)} '
                f"{esc(label)}: {pct(v) if percent else num(v)}</title></rect>"
            )
        if i % step == 0 or i == n - 1:
            cx = L + i * slot + slot / 2
            out.append(
                f'<text class="tick" text-anchor="end" transform="translate({cx:.1f},'
                f'{T + ph + 10}) rotate(-35)">{esc(label[:18])}</text>'
            )
    out.append(f'<line x1="{L}" x2="{L + pw}" y1="{T + ph}" y2="{T + ph}" class="axis"/></svg>')
    return "".join(out) + _legend((name, c) for name, c, _ in groups)


def _legend(keys: Iterable[tuple[str, str]]) -> str:
    items = "".join(
        f'<span class="key"><i style="background:{c}"></i>{esc(n)}</span>' for n, c in keys
    )
    return f'<div class="legend">{items}</div>'


def density_chart(
    edges: Sequence[float],
    groups: Sequence[tuple[str, str, Sequence[float]]],
    *,
    width: int = 620,
    height: int = 230,
) -> str:
    """Shares over bins of unequal width, each bar as wide as its bin on a linear value axis
    and as high as its share divided by its width (so a bar's area is its share): ``groups``
    are (name, colour, share per bin); the first is filled, the others are outlined over it.

    >>> svg = density_chart([0, 1, 10], [("ref", "#00f", [0.5, 0.5]), ("cur", "#f80", [0.9, 0.1])])
    >>> svg.count("<rect"), "[1, 10): ref 50.0%" in svg
    (2, True)
    """
    if len(edges) < 2 or not groups:
        return EMPTY
    widths = [b - a for a, b in itertools.pairwise(edges)]
    dens = [[s / w if w > 0 else 0.0 for s, w in zip(shares, widths)] for _, _, shares in groups]
    top = max((d for row in dens for d in row), default=0) or 1
    yticks = ticks(0, top * 1.05, 4)
    x0, x1 = float(edges[0]), float(edges[-1])
    L, R, T, B = 56, 12, 12, 32
    pw, ph = width - L - R, height - T - B

    def sx(x: float) -> float:
        return L + (x - x0) / ((x1 - x0) or 1) * pw

    def sy(y: float) -> float:
        return T + ph - y / yticks[-1] * ph

    out = [_svg(width, height)]
    out.append(y_grid(yticks, L, pw, sy))
    (_, color0, _), *others = groups
    for i, (a, b) in enumerate(itertools.pairwise(edges)):
        tip = f"[{num(a)}, {num(b)}): " + ", ".join(f"{esc(n)} {pct(s[i])}" for n, _, s in groups)
        out.append(
            f'<rect x="{sx(a):.1f}" y="{sy(dens[0][i]):.1f}" width="{max(sx(b) - sx(a), 0.5):.1f}" '
            f'height="{T + ph - sy(dens[0][i]):.1f}" fill="{color0}" opacity="0.55" '
            f'stroke="#fff" stroke-width="0.5"><title>{tip}</title></rect>'
        )
    for g, (_, color, _) in enumerate(others, start=1):
        d = [f"M{sx(x0):.1f},{T + ph}"]
        for i, (a, b) in enumerate(itertools.pairwise(edges)):
            d.append(f"L{sx(a):.1f},{sy(dens[g][i]):.1f}L{sx(b):.1f},{sy(dens[g][i]):.1f}")
        d.append(f"L{sx(x1):.1f},{T + ph}")
        out.append(
            f'<path d="{"".join(d)}" fill="{color}" fill-opacity="0.18" stroke="{color}" '
            'stroke-width="2"/>'
        )
    for e in edges:  # the bin edges, marked on the value axis
        out.append(
            f'<line x1="{sx(e):.1f}" x2="{sx(e):.1f}" y1="{T + ph}" y2="{T + ph + 4}" '
            'class="axis"/>'
        )
    for t in ticks(x0, x1, 6):
        if x0 <= t <= x1:
            out.append(
                f'<text x="{sx(t):.1f}" y="{height - 10}" class="tick" '
                f'text-anchor="middle">{num(t)}</text>'
            )
    out.append(
        f'<line x1="{L}" x2="{L + pw}" y1="{T + ph}" y2="{T + ph}" class="axis"/>'
        f'<text x="12" y="{T + ph / 2:.0f}" class="tick" text-anchor="middle" '
        f'transform="rotate(-90 12 {T + ph / 2:.0f})">share ÷ bin width</text></svg>'
    )
    return "".join(out) + _legend((n, c) for n, c, _ in groups)
