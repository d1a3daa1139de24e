"""Stopping ``monitor run`` at any phase: the signal handlers of start-up.

The ``monitor`` executable (:mod:`monitor.__main__`) calls :func:`stop_during_startup` before it
loads anything else: the command line's modules take about 1.5 s to import here, several seconds
on a busy machine, and a SIGTERM in that time used to end the process by the signal (exit -15).
From then on SIGINT and SIGTERM raise :class:`StoppedDuringStartup` wherever start-up is; the
exception unwinds it (the context managers close the embedded broker, the alert dispatcher and
the ops server) and the executable exits 0 with the line "stopped during start-up". The consumer
loop (``KafkaService.run``) then installs its own handlers, which let the current batch finish,
checkpoint and return ("stopped cleanly"). Every other command gets the signals back as it
starts (:func:`release`). The exit codes are listed in docs/operations.md.

>>> import signal
>>> before = signal.getsignal(signal.SIGTERM)
>>> stop_during_startup()
>>> try:
...     signal.raise_signal(signal.SIGTERM)
... except StoppedDuringStartup as stop:
...     print(stop)
stopped during start-up (SIGTERM)
>>> release()
>>> signal.getsignal(signal.SIGTERM) is before
True
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from types import FrameType
from typing import Any

__all__ = ["StoppedDuringStartup", "release", "stop_during_startup"]

_Handler = Callable[[int, FrameType | None], Any] | int | None
_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_previous: dict[signal.Signals, _Handler] = {}


class StoppedDuringStartup(BaseException):
    """SIGINT or SIGTERM arrived before the consumer loop took the signals over.

    A ``BaseException``, as ``KeyboardInterrupt`` is, so that no ``except Exception`` met on the
    way (a retry loop, a best-effort step) swallows the stop.
    """

    def __init__(self, signum: int) -> None:
        self.signal = signal.Signals(signum)
        super().__init__(f"stopped during start-up ({self.signal.name})")


def _raise(signum: int, frame: FrameType | None) -> None:
    raise StoppedDuringStartup(signum)


def stop_during_startup() -> None:
    """From now on, SIGINT and SIGTERM raise :class:`StoppedDuringStartup` (main thread only)."""
    for sig in _SIGNALS:
        _previous.setdefault(sig, signal.signal(sig, _raise))


def release() -> None:
    """Give SIGINT and SIGTERM back to the handlers they had before :func:`stop_during_startup`,
    unless someone (the consumer loop) has taken them over since."""
    for sig, handler in _previous.items():
        if signal.getsignal(sig) is _raise:
            signal.signal(sig, handler)
    _previous.clear()
