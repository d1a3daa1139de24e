"""The exception tree of ``monitor``: one root, one branch per concern.

::

    MonitorError
    ├── ConfigError            a config file or value is invalid (names the key)
    ├── ReferenceProfileError  a reference profile is missing or cannot be built
    ├── EventError             one event cannot be used (carries a machine-readable reason)
    ├── StoreError             the SQL database failed (a failed migration is one)
    │   ├── StoreUnavailable   the database is away: cannot connect, connection lost, locked,
    │   │   │                  timed out; the same write may succeed later (retry, backpressure)
    │   │   └── StoreFull      the database or its disk is full: a live service waits for space,
    │   │                      a replay stops (``--resume`` continues once space is freed)
    │   └── StoreRejected      the database refused this data (a value too long, a NUL character,
    │                          a number out of range, a constraint): the same write fails again,
    │                          so the checkpoint quarantines it
    │                          (see :mod:`monitor.pipeline.checkpoint`)
    ├── KafkaError             the broker or a topic is unusable (wraps confluent-kafka errors)
    └── EndpointError          the operations endpoint cannot listen (its port is taken)

Third-party errors are wrapped at the boundary with ``raise ... from`` (the database's in
:mod:`monitor.store.errors`).
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "EndpointError",
    "EventError",
    "KafkaError",
    "MonitorError",
    "ReferenceProfileError",
    "StoreError",
    "StoreFull",
    "StoreRejected",
    "StoreUnavailable",
]


class MonitorError(Exception):
    """Root of every error raised by ``monitor``."""


class ConfigError(MonitorError):
    """The configuration is invalid; the message names the key and the problem.

    >>> str(ConfigError("models.fraud.window", "must be positive"))
    'models.fraud.window: must be positive'
    """

    def __init__(self, key: str, problem: str) -> None:
        self.key = key
        self.problem = problem
        super().__init__(f"{key}: {problem}" if key else problem)


class ReferenceProfileError(MonitorError):
    """A reference profile is missing, empty, or cannot be built from its source."""


class EventError(MonitorError):
    """One event is unusable; ``reason`` is a short stable code for counters and dead letters."""

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}")


class StoreError(MonitorError):
    """The SQL database failed; the subclasses say whether retrying can help."""


class StoreUnavailable(StoreError):
    """The database cannot take the write now (unreachable, connection lost, locked, timed out);
    the same write may succeed later."""


class StoreFull(StoreUnavailable):
    """The database or the disk under it is full: nothing is written until space is freed."""


class StoreRejected(StoreError):
    """The database refused the data itself; writing the same data again fails the same way."""


class KafkaError(MonitorError):
    """The Kafka cluster or a topic is unusable."""


class EndpointError(MonitorError):
    """The operations endpoint (``/metrics``, ``/healthz``, ``/readyz``) cannot listen on its
    address; the message names the setting that chooses it."""
