"""Event-time window arithmetic: panes, window ends, and which windows a watermark closes.

Time is cut into panes of ``slide`` milliseconds; a window is ``k = window / slide`` consecutive
panes (tumbling when ``k == 1``) and is named by the index ``j`` of its last pane, covering
``[(j - k + 1) * slide, (j + 1) * slide)``. A window closes once the watermark reaches its end
plus the allowed lateness; an event whose pane's first window has closed is late.

>>> spec = WindowSpec(window_ms=60_000, slide_ms=20_000, lateness_ms=5_000)
>>> spec.pane_of(np.array([0, 19_999, 20_000])).tolist()
[0, 0, 1]
>>> spec.bounds(2)
(0, 60000)
>>> spec.pane(39_999), spec.window_of(39_999)
(1, (20000, 80000))
>>> spec.closable(65_000), spec.closable(64_999)
(2, 1)
>>> windows_to_close(spec, [0, 1, 5], frontier=None, upto=3)
[0, 1, 2, 3]
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from monitor.config import ModelConfig

__all__ = ["WindowSpec", "windows_to_close"]


@dataclass(frozen=True)
class WindowSpec:
    window_ms: int
    slide_ms: int
    lateness_ms: int
    origin_ms: int = 0  # windows are aligned to this instant (the epoch by default)

    @classmethod
    def of(cls, model: ModelConfig) -> WindowSpec:
        return cls(model.window_ms, model.slide_ms, model.allowed_lateness, model.window_origin)

    @property
    def panes(self) -> int:
        return self.window_ms // self.slide_ms

    def pane_of(self, timestamps: np.ndarray) -> np.ndarray:
        return np.floor_divide(timestamps - self.origin_ms, self.slide_ms)

    def pane(self, ms: int) -> int:
        """The pane of one instant."""
        return (ms - self.origin_ms) // self.slide_ms

    def pane_start_ms(self, pane: int) -> int:
        return self.origin_ms + pane * self.slide_ms

    def pane_end_ms(self, panes: np.ndarray) -> np.ndarray:
        """Where each of ``panes`` ends (exclusive)."""
        return self.origin_ms + (panes + 1) * self.slide_ms

    def window_of(self, ms: int) -> tuple[int, int]:
        """``(start_ms, end_ms)`` of the first window that holds instant ``ms``."""
        return self.bounds(self.pane(ms) + self.panes - 1)

    def bounds(self, end_pane: int) -> tuple[int, int]:
        """``(start_ms, end_ms)`` of the window whose last pane is ``end_pane``."""
        return self.pane_start_ms(end_pane - self.panes + 1), self.pane_start_ms(end_pane + 1)

    def closable(self, watermark: int) -> int:
        """The last window (by end pane) that ``watermark`` closes."""
        return (watermark - self.lateness_ms - self.origin_ms) // self.slide_ms - 1

    def window_panes(self, end_pane: int) -> range:
        return range(end_pane - self.panes + 1, end_pane + 1)


def windows_to_close(
    spec: WindowSpec, data_panes: Iterable[int], frontier: int | None, upto: int
) -> list[int]:
    """End panes of the windows to close: after ``frontier``, up to ``upto``, and holding data."""
    ends: set[int] = set()
    k = spec.panes
    for p in data_panes:
        lo = p if frontier is None else max(p, frontier + 1)
        ends.update(range(lo, min(p + k - 1, upto) + 1))
    return sorted(ends)
