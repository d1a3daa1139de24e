"""The generic webhook sink: the notification as JSON, signed.

Headers: ``Content-Type: application/json``, ``Idempotency-Key``, and, with a secret,
``X-Monitor-Timestamp`` (Unix seconds) and ``X-Monitor-Signature: sha256=<hex>``, the
HMAC-SHA256 of ``timestamp + "." + body`` under the secret. A receiver recomputes it over the
raw body, compares in constant time, and rejects timestamps older than a few minutes (a captured
request cannot be replayed later) and keys it has seen (a redelivery).

>>> body = b'{"status":"firing"}'
>>> sig = sign("s3cret", 1767225600, body)
>>> verify("s3cret", "1767225600", body, sig, now=1767225660)
True
>>> verify("s3cret", "1767225600", body, sig, now=1767226600)  # too old: a replay
False
>>> verify("wrong", "1767225600", body, sig, now=1767225660)
False
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from monitor.alerts.sinks.base import Request, Sink

__all__ = ["SIGNATURE_HEADER", "TIMESTAMP_HEADER", "WebhookSink", "encode", "sign", "verify"]

SIGNATURE_HEADER = "X-Monitor-Signature"
TIMESTAMP_HEADER = "X-Monitor-Timestamp"


def encode(payload: Any) -> bytes:
    """The exact body bytes (compact, sorted keys: the same payload gives the same bytes)."""
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(
    secret: str,
    timestamp: str,
    body: bytes,
    signature: str,
    *,
    now: float,
    tolerance_s: float = 300,
) -> bool:
    """True when ``signature`` is ours over ``timestamp`` and ``body`` and the timestamp is
    within ``tolerance_s`` of ``now``."""
    try:
        ts = int(timestamp)
    except (TypeError, ValueError):
        return False
    if abs(now - ts) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, ts, body), signature or "")


def signed_headers(secret: str | None, body: bytes, now: float, key: str) -> dict[str, str]:
    headers = {"Content-Type": "application/json", "Idempotency-Key": key}
    if secret:
        ts = int(now)
        headers[TIMESTAMP_HEADER] = str(ts)
        headers[SIGNATURE_HEADER] = sign(secret, ts, body)
    return headers


class WebhookSink(Sink):
    type = "webhook"

    def __init__(
        self,
        name: str,
        url: str,
        secret: str | None = None,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(name, **kwargs)
        self._url = url
        self._secret = secret
        self._headers = dict(headers or {})

    def secrets(self) -> list[str]:
        return [self._url, self._secret or "", *self._headers.values()]

    def build(self, payload: dict[str, Any]) -> Request:
        body = encode(payload)
        headers = {
            **self._headers,
            **signed_headers(self._secret, body, self.clock(), payload["idempotency_key"]),
        }
        headers["X-Monitor-Event"] = payload.get("type", "monitor.alert")
        return "POST", self._url, {"content": body, "headers": headers}
