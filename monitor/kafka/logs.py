"""librdkafka's log lines through Python's logging, for every client we make.

Without a ``logger`` in its configuration, librdkafka prints its lines to stderr itself
(``%6|1796289862.327|BGQUEUE|rdkafka#producer-2| ...``), outside the service's log format and
level: a JSON log pipeline gets lines it cannot parse.

>>> import logging
>>> conf = {"logger": LibrdkafkaLog(logging.getLogger("monitor.kafka.librdkafka"))}
"""

from __future__ import annotations

import logging
from typing import Any

__all__ = ["LibrdkafkaLog", "librdkafka_logger"]


class LibrdkafkaLog:
    """librdkafka's log lines into a Python logger, at their own level except connection
    failures (facility ``FAIL``), which go to DEBUG: librdkafka repeats one at every reconnect
    (190 lines in 30 s against a dead address), and the error callback reports the outage."""

    def __init__(self, target: logging.Logger) -> None:
        self._target = target

    def log(self, level: int, msg: str, *args: Any) -> None:
        # confluent-kafka calls log(level, "%s [%s] %s", facility, client name, text).
        self._target.log(logging.DEBUG if args[:1] == ("FAIL",) else level, msg, *args)


def librdkafka_logger(name: str = "monitor.kafka.librdkafka") -> LibrdkafkaLog:
    """The ``logger`` setting of a client whose lines go to the Python logger ``name``."""
    return LibrdkafkaLog(logging.getLogger(name))
