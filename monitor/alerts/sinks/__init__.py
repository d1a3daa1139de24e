"""Sinks: where notifications go. Configured by name under ``alerts.sinks``; a registry maps
each ``type`` to its class.

==========  =====================================================================
type        request
==========  =====================================================================
slack       Block Kit message to an incoming webhook
webhook     JSON body, HMAC-SHA256 signature over timestamp + body
github      ``repository_dispatch`` with a Bearer token (retrain trigger)
gitlab      pipeline trigger: token, ref, variables (retrain trigger)
ci_webhook  JSON evidence, optional Bearer token and signature (retrain trigger)
==========  =====================================================================
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from monitor.alerts.sinks.base import Sink
from monitor.alerts.sinks.ci import CiWebhookSink, GithubSink, GitlabSink, retrain_evidence
from monitor.alerts.sinks.slack import SlackSink
from monitor.alerts.sinks.webhook import WebhookSink, sign, verify
from monitor.config import AlertsConfig

__all__ = [
    "SINK_TYPES",
    "CiWebhookSink",
    "GithubSink",
    "GitlabSink",
    "Sink",
    "SlackSink",
    "WebhookSink",
    "build_sink",
    "build_sinks",
    "retrain_evidence",
    "sign",
    "verify",
]

SINK_TYPES: dict[str, type[Sink]] = {
    cls.type: cls for cls in (SlackSink, WebhookSink, GithubSink, GitlabSink, CiWebhookSink)
}


def _secret(value: Any) -> Any:
    return value.get_secret_value() if hasattr(value, "get_secret_value") else value


def build_sink(
    name: str,
    cfg: Any,
    *,
    timeout_ms: int = 10_000,
    client: httpx.Client | None = None,
    clock: Callable[[], float] = time.time,
) -> Sink:
    """The sink configured as ``name`` (secrets unwrapped here and nowhere else)."""
    options = {k: _secret(v) for k, v in cfg if k not in ("type", "timeout", "rate_limit")}
    if "headers" in options:
        options["headers"] = {k: _secret(v) for k, v in options["headers"].items()}
    timeout_s = (cfg.timeout if cfg.timeout is not None else timeout_ms) / 1000
    return SINK_TYPES[cfg.type](name, timeout_s=timeout_s, client=client, clock=clock, **options)


def build_sinks(alerts: AlertsConfig, **kwargs: Any) -> dict[str, Sink]:
    """Every configured sink by name."""
    return {
        name: build_sink(name, cfg, timeout_ms=alerts.delivery.timeout, **kwargs)
        for name, cfg in alerts.sinks.items()
    }
