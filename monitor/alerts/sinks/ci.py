"""Retrain triggers: GitHub ``repository_dispatch``, a GitLab pipeline trigger, and a generic
CI webhook. Each carries the evidence: the model version, the window, the features that drifted
with their statistics, and the rules that fired. They get firing notifications only (never
reminders or resolutions), at most one per model per ``rate_limit`` (enforced when the outbox
row is written, see :mod:`monitor.alerts.evaluator`).

>>> evidence = retrain_evidence({"idempotency_key": "k", "model_id": "fraud", "model_version": "v3",
...     "severity": "critical", "window": {"start": "a", "end": "b"}, "features": ["amount"],
...     "dashboard_url": None, "status": "firing",
...     "alerts": [{"rule": "retrain", "kind": "dataset_drift", "feature": None,
...     "state": "firing", "severity": "critical", "statistic": "drifted_share",
...     "comparison": ">=", "value": 0.4, "threshold": 0.1, "evidence": {"features": ["amount"]}}]})
>>> evidence["reason"]
'retrain: drifted_share 0.4 >= 0.1'
>>> len(evidence) <= 10  # GitHub accepts at most 10 top-level client_payload keys
True
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from monitor.alerts.sinks.base import Request, Sink
from monitor.alerts.sinks.webhook import encode, signed_headers

__all__ = ["CiWebhookSink", "GithubSink", "GitlabSink", "retrain_evidence"]


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def retrain_evidence(payload: dict[str, Any]) -> dict[str, Any]:
    """Why retrain: at most 10 top-level keys (GitHub's ``client_payload`` limit)."""
    firing = [a for a in payload["alerts"] if a["state"] == "firing"]
    reasons = []
    for a in firing:
        who = (
            a["rule"]
            + (f" {a['feature']}" if a.get("feature") else "")
            + (f" in {a['segment']}" if a.get("segment") else "")
        )
        reasons.append(
            f"{who}: {a['statistic']} {_fmt(a.get('value'))} {a.get('comparison')} "
            f"{_fmt(a.get('threshold'))}"
        )
    evidence = [
        {
            k: a.get(k)
            for k in (
                "rule",
                "kind",
                "feature",
                "severity",
                "statistic",
                "comparison",
                "value",
                "threshold",
            )
        }
        | {"details": a.get("evidence", {})}
        for a in firing
    ]
    out = {
        "idempotency_key": payload["idempotency_key"],
        "model_id": payload["model_id"],
        "model_version": payload["model_version"],
        "severity": payload["severity"],
        "window": payload["window"],
        "features": payload.get("features", []),
        "reason": "; ".join(reasons),
        "evidence": evidence,
        "dashboard_url": payload.get("dashboard_url"),
    }
    if payload.get("status") == "test":
        out["test"] = True
        out["reason"] = payload.get("message", "test")
    return out


class GithubSink(Sink):
    """``POST {api_url}/repos/{owner}/{repo}/dispatches`` with a Bearer token; the workflow
    listens with ``on: repository_dispatch: types: [<event_type>]``. A test uses the event type
    ``<event_type>-test`` so it reaches GitHub without starting a training."""

    type = "github"
    retrain = True

    def __init__(
        self,
        name: str,
        repository: str,
        token: str,
        event_type: str = "monitor-retrain",
        api_url: str = "https://api.github.com",
        **kwargs: Any,
    ) -> None:
        super().__init__(name, **kwargs)
        self._url = f"{api_url.rstrip('/')}/repos/{repository}/dispatches"
        self._token = token
        self.event_type = event_type

    def secrets(self) -> list[str]:
        return [self._token]

    def build(self, payload: dict[str, Any]) -> Request:
        evidence = retrain_evidence(payload)
        event = self.event_type + ("-test" if evidence.get("test") else "")
        headers = {
            "Authorization": f"Bearer {self._token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
            "Idempotency-Key": payload["idempotency_key"],
        }
        return (
            "POST",
            self._url,
            {"json": {"event_type": event, "client_payload": evidence}, "headers": headers},
        )


class GitlabSink(Sink):
    """``POST {url}/api/v4/projects/{project}/trigger/pipeline`` with the form fields ``token``,
    ``ref`` and ``variables[NAME]``: the configured variables plus ``MONITOR_*`` ones
    (model, version, window, severity, features, reason, the evidence as JSON, the key, and
    ``MONITOR_TEST=true`` for a test)."""

    type = "gitlab"
    retrain = True

    def __init__(
        self,
        name: str,
        project: str,
        token: str,
        ref: str = "main",
        variables: dict[str, str] | None = None,
        url: str = "https://gitlab.com",
        **kwargs: Any,
    ) -> None:
        super().__init__(name, **kwargs)
        self._url = f"{url.rstrip('/')}/api/v4/projects/{quote(project, safe='')}/trigger/pipeline"
        self._token = token
        self.ref = ref
        self.variables = dict(variables or {})

    def secrets(self) -> list[str]:
        return [self._token]

    def build(self, payload: dict[str, Any]) -> Request:
        e = retrain_evidence(payload)
        variables = {
            **self.variables,
            "MONITOR_IDEMPOTENCY_KEY": e["idempotency_key"],
            "MONITOR_MODEL_ID": e["model_id"],
            "MONITOR_MODEL_VERSION": e["model_version"],
            "MONITOR_SEVERITY": e["severity"],
            "MONITOR_WINDOW_START": e["window"]["start"],
            "MONITOR_WINDOW_END": e["window"]["end"],
            "MONITOR_FEATURES": ",".join(e["features"]),
            "MONITOR_REASON": e["reason"],
            "MONITOR_EVIDENCE": json.dumps(e["evidence"], separators=(",", ":")),
        }
        if e.get("test"):
            variables["MONITOR_TEST"] = "true"
        form = {
            "token": self._token,
            "ref": self.ref,
            **{f"variables[{k}]": v for k, v in variables.items()},
        }
        return (
            "POST",
            self._url,
            {"data": form, "headers": {"Idempotency-Key": e["idempotency_key"]}},
        )


class CiWebhookSink(Sink):
    """Any CI: the evidence as a JSON body, with an optional Bearer token and the webhook
    signature headers (see :mod:`monitor.alerts.sinks.webhook`)."""

    type = "ci_webhook"
    retrain = True

    def __init__(
        self,
        name: str,
        url: str,
        token: str | None = None,
        secret: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(name, **kwargs)
        self._url = url
        self._token = token
        self._secret = secret

    def secrets(self) -> list[str]:
        return [self._url, self._token or "", self._secret or ""]

    def build(self, payload: dict[str, Any]) -> Request:
        body = encode({"type": "monitor.retrain", **retrain_evidence(payload)})
        headers = signed_headers(self._secret, body, self.clock(), payload["idempotency_key"])
        headers["X-Monitor-Event"] = "monitor.retrain"
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        return "POST", self._url, {"content": body, "headers": headers}
