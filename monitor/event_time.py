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

The watermark-relative rule is sequential (a refused event does not move the watermark that
judges the next one); :meth:`EventTimeGuard.admit` computes it with numpy by iterating to the
fixpoint, which equals the event-by-event rule (each round can only refuse events the sequential
rule refuses, and the rounds stop when nothing changes).

>>> guard = EventTimeGuard(max_future_ms=1000, max_ahead_ms=100, clock=lambda: 5.0)
>>> ts = np.array([10, 20, 500, 30, 90_000, 120, 300])
>>> guard.admit(ts, start=None).tolist()  # 500 jumps ahead, 90 s is in the future
[0, 0, 1, 0, 2, 0, 1]
>>> [REFUSALS[r] for r in guard.admit(ts, start=None)[[2, 4]]]
['ahead_of_watermark', 'future']
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from monitor.config import EventTimeConfig

__all__ = ["OK", "REFUSALS", "EventTimeGuard"]

#: Codes returned by :meth:`EventTimeGuard.admit`, indexed by code (0: admitted).
REFUSALS = ("ok", "ahead_of_watermark", "future", "before_floor")
OK = 0
_AHEAD, _FUTURE, _FLOOR = 1, 2, 3
#: Rounds of the vectorised fixpoint before falling back to the event-by-event rule.
_ROUNDS = 8


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
                f"timestamp {ts} is more than {self.max_ahead_ms} ms ahead of its source's watermark "
                f"{watermark} (event_time.max_ahead)"
            )
        return f"timestamp {ts} is before event_time.not_before ({self.not_before_ms})"

    def admit(self, ts: np.ndarray, start: int | None) -> np.ndarray:
        """A refusal code per timestamp (in source order), 0 for the admitted ones; ``start`` is
        the source's watermark before the batch (None: no event yet)."""
        codes = np.zeros(ts.size, np.int8)
        if self.max_future_ms is not None:
            codes[ts > int(self.clock() * 1000) + self.max_future_ms] = _FUTURE
        if self.not_before_ms is not None:
            codes[ts < self.not_before_ms] = _FLOOR
        if self.max_ahead_ms is not None and ts.size:
            self._ahead(ts, start, codes)
        return codes

    def _ahead(self, ts: np.ndarray, start: int | None, codes: np.ndarray) -> None:
        low = np.iinfo(np.int64).min
        first = low if start is None else start
        refused = codes != OK
        for _ in range(_ROUNDS):
            kept = np.where(refused, low, ts)
            prior = np.maximum.accumulate(np.concatenate([[first], kept]))[:-1]
            # The first event of a source has no watermark to be ahead of.
            ahead = (prior != low) & (ts > prior + self.max_ahead_ms)
            now = refused | ahead
            if np.array_equal(now, refused):
                codes[ahead & (codes == OK)] = _AHEAD
                return
            refused = now
        watermark = start
        for i, t in enumerate(ts.tolist()):  # adversarial input: the sequential rule itself
            if codes[i] != OK:
                continue
            if watermark is not None and t > watermark + self.max_ahead_ms:
                codes[i] = _AHEAD
            else:
                watermark = t if watermark is None else max(watermark, t)

    def watermarks(self, ts: np.ndarray, codes: np.ndarray, start: int | None) -> np.ndarray:
        """The source watermark just before each event (admitted ones move it), for the
        ``ahead_of_watermark`` details."""
        low = np.iinfo(np.int64).min
        kept = np.where(codes == OK, ts, low)
        return np.maximum.accumulate(np.concatenate([[low if start is None else start], kept]))[:-1]
