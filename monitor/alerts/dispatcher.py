"""The dispatcher: deliver the outbox, at least once, with retries.

One round (:meth:`Dispatcher.run_once`), in this order:

1. every ``alerts.health_interval``, judge pipeline health (:meth:`AlertEvaluator.check_health`)
   in a transaction of its own; its notifications land in the outbox like any other;
2. claim up to ``delivery.batch`` due rows (see :mod:`monitor.alerts.outbox`);
3. send each through its sink, outside any transaction;
4. settle each: ``delivered``; or ``pending`` again at ``now + delay``, where the delay is the
   receiver's ``Retry-After`` when it sent one (capped at ``max_retry_after``), else
   exponential backoff with full jitter, ``uniform(0, min(backoff_cap, backoff * 2**(n-1)))``
   after the n-th attempt; or ``dead`` with the reason after ``max_attempts`` or a permanent
   error (a 4xx other than 408, 425, 429).

A receiver that is down for minutes, or a restart with rows still pending, loses nothing: the
rows wait in SQL until a dispatcher (this one, or a new one on the same database) delivers them.
The clock, the sleep and the random source are injected so tests are exact.
"""

from __future__ import annotations

import email.utils
import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from monitor.alerts.evaluator import AlertEvaluator
from monitor.alerts.exceptions import DeliveryError
from monitor.alerts.outbox import claim_due, settle_dead, settle_delivered, settle_retry
from monitor.alerts.sinks import Sink, build_sinks
from monitor.config import Config, DeliveryConfig
from monitor.exceptions import MonitorError
from monitor.store import Store

__all__ = ["Dispatcher", "backoff_ms", "retry_after_ms"]

log = logging.getLogger(__name__)

#: The outbox outcome -> the ``outcome`` label of ``monitor_notifications_total``.
_METRIC_OUTCOME = {"delivered": "sent", "retry": "retry", "dead": "failed"}


def backoff_ms(attempt: int, base_ms: int, cap_ms: int, rng: random.Random) -> int:
    """Full jitter: a uniform delay up to ``min(cap, base * 2**(attempt-1))``.

    >>> rng = random.Random(0)
    >>> [backoff_ms(n, 1000, 8000, rng) <= min(8000, 1000 * 2 ** (n - 1)) for n in range(1, 8)]
    [True, True, True, True, True, True, True]
    """
    ceiling = min(cap_ms, base_ms * 2 ** min(attempt - 1, 62))
    return int(rng.uniform(0, ceiling))


def retry_after_ms(value: str | None, now_s: float) -> int | None:
    """A ``Retry-After`` header (delta seconds or an HTTP date) in milliseconds from now.

    >>> [retry_after_ms(v, 0.0) for v in ("30", "Thu, 01 Jan 1970 00:01:00 GMT", "soon")]
    [30000, 60000, None]
    """
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return int(value) * 1000
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0, int((when.timestamp() - now_s) * 1000))


class Dispatcher:
    """Deliver due outbox rows of ``store`` through ``sinks`` (name -> :class:`Sink`).

    ``clock`` returns seconds (``time.time``); ``sleep`` waits between idle rounds of the
    background thread; ``evaluator``, when given, judges pipeline health each
    ``health_interval_ms``. ``metrics`` (a :class:`monitor.metrics.Metrics`) gets
    ``monitor_notifications_total{sink,outcome}``: ``sent`` (delivered), ``retry`` (failed, will
    retry) or ``failed`` (dead)."""

    def __init__(
        self,
        store: Store,
        sinks: Mapping[str, Sink],
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Any] | None = None,
        *,
        delivery: DeliveryConfig | None = None,
        evaluator: AlertEvaluator | None = None,
        health_interval_ms: int = 30_000,
        rng: random.Random | None = None,
        metrics: Any | None = None,
    ) -> None:
        self.store = store
        self.sinks = dict(sinks)
        self.clock = clock
        self._stop = threading.Event()
        self.sleep = sleep or self._stop.wait
        self.delivery = delivery or DeliveryConfig()
        self.evaluator = evaluator
        self.health_interval_ms = health_interval_ms
        self.rng = rng or random.Random()
        self.metrics = metrics
        self._next_health: int | None = None
        self._thread: threading.Thread | None = None
        self.outcomes: Counter[tuple[str, str]] = Counter()  # (sink, outcome), for tests and logs

    @classmethod
    def from_config(cls, config: Config, store: Store, **kwargs: Any) -> Dispatcher:
        """A dispatcher with the configured sinks and delivery, judging pipeline health."""
        alerts = config.alerts
        kwargs.setdefault("evaluator", AlertEvaluator(config, store, kwargs.get("metrics")))
        sinks = kwargs.pop("sinks", None) or build_sinks(alerts)
        return cls(
            store,
            sinks,
            delivery=alerts.delivery,
            health_interval_ms=alerts.health_interval,
            **kwargs,
        )

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    # -- one round -----------------------------------------------------------------------------
    def run_once(self) -> int:
        """Judge health when due, then claim, send and settle one batch; returns the number
        of rows attempted."""
        now = self._now_ms()
        if (
            self.evaluator is not None
            and self.evaluator.judges_health
            and (self._next_health is None or now >= self._next_health)
        ):
            self._next_health = now + self.health_interval_ms
            with self.store.tx() as conn:
                self.evaluator.check_health(conn, now)
        d = self.delivery
        rows = claim_due(self.store, now, d.batch, d.lease)
        for row in rows:
            self._deliver(row)
        return len(rows)

    def drain(self, max_rounds: int = 1000) -> int:
        """Run rounds until nothing is due now; returns the rows attempted."""
        total = 0
        for _ in range(max_rounds):
            n = self.run_once()
            total += n
            if n == 0:
                break
        return total

    def _deliver(self, row: dict[str, Any]) -> None:
        name, attempt = row["sink"], row["attempts"]
        sink = self.sinks.get(name)
        if sink is None:
            self._dead(row, f"sink {name!r} is not configured")
            return
        try:
            sink.send(row["payload"])
        except DeliveryError as exc:
            self._failed(row, sink, exc)
            return
        except Exception as exc:  # noqa: BLE001 (a bug in a sink must not stop the dispatcher)
            self._failed(row, sink, DeliveryError(f"{type(exc).__name__}: {exc}"))
            return
        if settle_delivered(self.store, row, self._now_ms()):
            self._count(name, "delivered")
            log.info(
                "delivered notification %s to sink %s (attempt %d)", row["key"][:12], name, attempt
            )
        else:
            log.warning(
                "notification %s delivered to sink %s after its claim expired",
                row["key"][:12],
                name,
            )

    def _failed(self, row: dict[str, Any], sink: Sink, exc: DeliveryError) -> None:
        d = self.delivery
        attempt = row["attempts"]
        reason = self.redact(exc.reason)
        if exc.permanent or attempt >= d.max_attempts:
            why = "permanent error" if exc.permanent else f"gave up after {attempt} attempts"
            self._dead(row, f"{reason} ({why})")
            return
        now = self._now_ms()
        delay = retry_after_ms(exc.retry_after, now / 1000)
        if delay is not None:
            delay = min(delay, d.max_retry_after)
        else:
            delay = backoff_ms(attempt, d.backoff, d.backoff_cap, self.rng)
        if settle_retry(self.store, row, now, now + delay, reason):
            self._count(row["sink"], "retry")
            log.warning(
                "delivery to sink %s failed (attempt %d of %d): %s; retrying in %.1f s",
                row["sink"],
                attempt,
                d.max_attempts,
                reason,
                delay / 1000,
            )

    def redact(self, text: str) -> str:
        """``text`` without the secrets of any sink (a response may echo another's)."""
        for sink in self.sinks.values():
            text = sink.redact(text)
        return text

    def _dead(self, row: dict[str, Any], reason: str) -> None:
        reason = self.redact(reason)
        if settle_dead(self.store, row, self._now_ms(), reason):
            self._count(row["sink"], "dead")
            log.error(
                "notification %s to sink %s is dead: %s", row["key"][:12], row["sink"], reason
            )

    def _count(self, sink: str, outcome: str) -> None:
        self.outcomes[(sink, outcome)] += 1
        outcome = _METRIC_OUTCOME[outcome]
        counter = getattr(self.metrics, "notifications", None) if self.metrics is not None else None
        if counter is not None:
            counter.labels(sink=sink, outcome=outcome).inc()

    # -- background thread ---------------------------------------------------------------------
    def start(self) -> Dispatcher:
        """Run rounds in a daemon thread until :meth:`stop`."""
        if self._thread is not None:
            return self
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="alert-dispatcher", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def close(self) -> None:
        self.stop()
        for sink in self.sinks.values():
            sink.close()

    def _loop(self) -> None:
        poll = self.delivery.poll_interval / 1000
        while not self._stop.is_set():
            try:
                busy = self.run_once()
            except MonitorError as exc:  # the database is away: try again later
                log.warning("dispatcher round failed: %s", exc)
                busy = 0
            except Exception:
                log.exception("dispatcher round failed")
                busy = 0
            if not busy and not self._stop.is_set():
                self.sleep(poll)
