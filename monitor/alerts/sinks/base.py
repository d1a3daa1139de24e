"""What every sink shares: one HTTP client, the classification of responses into delivered,
retry later (timeouts, connection errors, 408, 425, 429, 5xx) and dead (other 4xx), and the
redaction of its secrets from every message it produces.

Webhook URLs and tokens are secrets. A sink is only ever named in logs and errors by its
configured name; any text that could quote a URL or a token (a transport error, a response
body) goes through :meth:`Sink.redact` first. httpx logs every request URL at INFO level, so its
logger is raised to WARNING here.
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx

from monitor.alerts.exceptions import DeliveryError

__all__ = ["USER_AGENT", "Request", "Sink"]

USER_AGENT = "monitor-alerts/1"
# httpx logs "HTTP Request: POST <full URL>" at INFO: a Slack webhook URL is a credential.
logging.getLogger("httpx").setLevel(logging.WARNING)

#: (method, url, keyword arguments for httpx.Client.request)
Request = tuple[str, str, dict[str, Any]]


class Sink(ABC):
    """A destination for notifications. Subclasses build the HTTP request from the neutral
    payload (:mod:`monitor.alerts.notify`); :meth:`send` performs and classifies it."""

    type: ClassVar[str]
    #: Retrain triggers get firing notifications only, rate-limited per model.
    retrain: ClassVar[bool] = False

    def __init__(
        self,
        name: str,
        *,
        timeout_s: float = 10.0,
        client: httpx.Client | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.name = name
        self.timeout_s = timeout_s
        self.clock = clock
        self._client = client or httpx.Client(
            timeout=timeout_s, follow_redirects=False, headers={"User-Agent": USER_AGENT}
        )

    # -- secrets -----------------------------------------------------------------------------
    @abstractmethod
    def secrets(self) -> list[str]:
        """Every secret string of this sink (URLs, tokens, signing secrets)."""

    def redact(self, text: str) -> str:
        """``text`` with every secret of this sink, and the path and query of secret URLs,
        replaced by ``***``."""
        parts: set[str] = set()
        for secret in self.secrets():
            if not secret:
                continue
            parts.add(secret)
            if "://" in secret:
                split = urlsplit(secret)
                parts.update(p for p in (split.path, split.query) if len(p) > 1)
        for part in sorted(parts, key=len, reverse=True):
            if len(part) >= 4:
                text = text.replace(part, "***")
        return text

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"

    # -- sending -----------------------------------------------------------------------------
    @abstractmethod
    def build(self, payload: dict[str, Any]) -> Request:
        """The HTTP request that delivers ``payload``."""

    def send(self, payload: dict[str, Any]) -> None:
        """Deliver ``payload`` once; raises :class:`DeliveryError` (never an httpx error)."""
        method, url, kwargs = self.build(payload)
        try:
            response = self._client.request(method, url, timeout=self.timeout_s, **kwargs)
        except httpx.TimeoutException as exc:
            raise DeliveryError(
                f"timed out after {self.timeout_s:g} s ({type(exc).__name__})"
            ) from None
        except httpx.HTTPError as exc:
            raise DeliveryError(self.redact(f"{type(exc).__name__}: {exc}")) from None
        status = response.status_code
        if 200 <= status < 300:
            return
        body = self.redact(response.text[:200].strip()) if response.content else ""
        reason = f"HTTP {status}" + (f": {body}" if body else "")
        retry_after = response.headers.get("Retry-After")
        if status in (408, 425, 429) or status >= 500:
            raise DeliveryError(reason, retry_after=retry_after)
        raise DeliveryError(reason, permanent=True)

    def close(self) -> None:
        self._client.close()
