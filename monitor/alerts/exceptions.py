"""The exceptions of :mod:`monitor.alerts`, under the package root :class:`MonitorError`.

::

    MonitorError
    └── AlertError           an alert, silence or sink cannot be used
        └── DeliveryError    one delivery attempt failed (carries whether and when to retry)

Third-party errors (httpx) are wrapped at the sink boundary with ``raise ... from``; their
messages are redacted first, since a transport error may quote a webhook URL.
"""

from __future__ import annotations

from monitor.exceptions import MonitorError

__all__ = ["AlertError", "DeliveryError"]


class AlertError(MonitorError):
    """An alert, silence or sink cannot be used."""


class DeliveryError(AlertError):
    """One attempt to deliver a notification failed.

    ``permanent``: retrying cannot help (a 4xx other than 408, 425 and 429); the notification
    goes dead at once. ``retry_after``: the receiver's ``Retry-After`` header, verbatim (seconds
    or an HTTP date), honoured by the dispatcher.

    >>> str(DeliveryError("HTTP 429", retry_after="30"))
    'HTTP 429'
    """

    def __init__(
        self, reason: str, *, permanent: bool = False, retry_after: str | None = None
    ) -> None:
        self.reason = reason
        self.permanent = permanent
        self.retry_after = retry_after
        super().__init__(reason)
