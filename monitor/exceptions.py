"""The exception tree of ``monitor``: one root, one branch per concern.

::

    MonitorError
    ├── ConfigError          a config file or value is invalid (names the key)
    ├── ReferenceError_      a reference profile is missing or cannot be built
    ├── EventError           one event cannot be used (carries a machine-readable reason)
    ├── StoreError           the SQL database failed or is unreachable
    └── KafkaError           the broker or a topic is unusable (wraps confluent-kafka errors)

Third-party errors are wrapped at the boundary with ``raise ... from``.
"""

from __future__ import annotations

__all__ = [
    "MonitorError",
    "ConfigError",
    "ReferenceProfileError",
    "EventError",
    "StoreError",
    "KafkaError",
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
    """The SQL database failed or is unreachable."""


class KafkaError(MonitorError):
    """The Kafka cluster or a topic is unusable."""
