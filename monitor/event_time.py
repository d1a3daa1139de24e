"""Event-time bounds: which timestamps may move a source's watermark.

A source's watermark is the latest event time it has delivered, and an event is late when its
source's watermark had passed its window (see :mod:`monitor.engine`). So one event with a wrong
clock (dated 2100, or in microseconds instead of milliseconds) would make every later event of
its partition late. :class:`EventTimeGuard` refuses such events before they reach the watermark:

- ahead of the wall clock by more than ``max_future`` (every feeder: no producer can honestly be
  an hour ahead of us);
- ahead of the source's own watermark by more than ``max_ahead`` (``monitor replay`` only: a
  backfill is in the past, so the wall clock does not bound it; a live partition may be silent
  for days and then resume, so the bound does not apply there);
- before ``not_before``.

A refused event does not move the watermark that judges the next one. A file may also have a real
gap (an outage of the logging app): after :data:`FOLLOW_AFTER` events in a row all ahead by more
than ``max_ahead``, the watermark follows them (those events stay dead letters, with a detail
saying so), so a gap costs a bounded, counted number of events instead of the rest of the file.
The rule is sequential; :meth:`EventTimeGuard.admit` computes the common case (no event ahead)
with numpy and runs the event-by-event rule only for a batch where one is.

>>> guard = EventTimeGuard(max_future_ms=1000, max_ahead_ms=100, clock=lambda: 5.0)
>>> codes, streak = guard.admit(np.array([10, 20, 500, 30, 90_000, 120, 300]), None, 0)
>>> codes.tolist(), streak  # 500 and 300 jump ahead, 90 s is in the future
([0, 0, 1, 0, 2, 0, 1], 1)
>>> [REFUSALS[c] for c in codes[[2, 4]]]
['ahead_of_watermark', 'future']
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from monitor.config import EventTimeConfig

__all__ = ["FOLLOW_AFTER", "OK", "REFUSALS", "EventTimeGuard"]

#: Codes returned by :meth:`EventTimeGuard.admit`, indexed by code (0: admitted).
REFUSALS = ("ok", "ahead_of_watermark", "future", "before_floor")
OK = 0
_AHEAD, _FUTURE, _FLOOR = 1, 2, 3
#: After this many events in a row ahead of the watermark, it follows them (a gap in the file).
FOLLOW_AFTER = 100


@dataclass(frozen=True)
class EventTimeGuard:
    """The event-time bounds of one feeder (``max_ahead_ms`` only for replays)."""

    max_future_ms: int | None = None
    max_ahead_ms: int | None = None
    not_before_ms: int | None = None
    clock: Callable[[], float] = field(default=time.time, compare=False)

    @classmethod
    def live(cls, cfg: EventTimeConfig) -> EventTimeGuard:
        """``monitor run``: the wall clock bounds event time."""
        return cls(cfg.max_future, None, cfg.not_before)

    @classmethod
    def replay(cls, cfg: EventTimeConfig) -> EventTimeGuard:
        """``monitor replay``: the wall clock and the file's own watermark bound event time."""
        return cls(cfg.max_future, cfg.max_ahead, cfg.not_before)

    def describe(self, code: int, ts: int, watermark: int | None) -> str:
        """A dead letter's detail for refusal ``code`` of timestamp ``ts``."""
        if code == _FUTURE:
            return (
                f"timestamp {ts} is more than {self.max_future_ms} ms ahead of the wall clock "
                "(event_time.max_future)"
            )
        if code == _AHEAD:
            return (
                f"timestamp {ts} is more than {self.max_ahead_ms} ms ahead of its source's "
                "watermark "
                f"{watermark} (event_time.max_ahead; after {FOLLOW_AFTER} such events in a row the "
                "watermark follows them)"
            )
        return f"timestamp {ts} is before event_time.not_before ({self.not_before_ms})"

    def admit(self, ts: np.ndarray, start: int | None, streak: int = 0) -> tuple[np.ndarray, int]:
        """A refusal code per timestamp (in source order), 0 for the admitted ones, and the
        number of events in a row ahead of the watermark at the end of the batch. ``start``
        is the source's watermark before the batch (None: no event yet), ``streak`` the count
        the previous batch returned."""
        codes = np.zeros(ts.size, np.int8)
        if self.max_future_ms is not None:
            codes[ts > int(self.clock() * 1000) + self.max_future_ms] = _FUTURE
        if self.not_before_ms is not None:
            codes[ts < self.not_before_ms] = _FLOOR
        if self.max_ahead_ms is None or not ts.size:
            return codes, streak
        low = np.iinfo(np.int64).min
        kept = np.where(codes == OK, ts, low)
        prior = np.maximum.accumulate(np.concatenate([[low if start is None else start], kept]))[
            :-1
        ]
        # Admitting everything in time keeps watermarks at their highest: if no event is ahead
        # of those, none is ahead of the (never higher) watermarks of the sequential rule.
        if (
            streak == 0
            and not ((prior != low) & (ts > prior + self.max_ahead_ms) & (codes == OK)).any()
        ):
            return codes, 0
        return codes, self._sequential(ts.tolist(), start, streak, codes)

    def _sequential(
        self, ts: list[int], watermark: int | None, streak: int, codes: np.ndarray
    ) -> int:
        assert self.max_ahead_ms is not None
        for i, t in enumerate(ts):
            if codes[i] != OK:
                continue
            if watermark is not None and t > watermark + self.max_ahead_ms:
                streak += 1
                if streak <= FOLLOW_AFTER:
                    codes[i] = _AHEAD
                    continue
            streak = 0
            watermark = t if watermark is None else max(watermark, t)
        return streak

    def watermarks(self, ts: np.ndarray, codes: np.ndarray, start: int | None) -> np.ndarray:
        """The source watermark just before each event (admitted ones move it), for the
        ``ahead_of_watermark`` details."""
        low = np.iinfo(np.int64).min
        kept = np.where(codes == OK, ts, low)
        return np.maximum.accumulate(np.concatenate([[low if start is None else start], kept]))[:-1]
