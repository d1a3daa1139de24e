"""From alert notices to grouped notifications: one message per model, version, window and
sink, listing every alert in it (Alertmanager's grouping by model and window), with an
idempotency key derived from what it says. Pure.

The key is a SHA-256 over (model, version, window end, sink, and each member's rule, feature,
state, severity and reminder time): evaluating the same window twice yields the same key, and
the outbox (unique on the key) keeps one row; receivers drop a redelivery by the same key.

>>> alerts = [("drift", "amount", "firing", "critical", None)]
>>> key = idempotency_key("fraud", "v1", 3_600_000, "slack", alerts)
>>> len(key), key == idempotency_key("fraud", "v1", 3_600_000, "slack", alerts)
(64, True)
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from monitor.alerts.rules import subject_parts
from monitor.format import iso
from monitor.jsonsafe import json_safe

__all__ = [
    "Notice",
    "Notification",
    "dashboard_url",
    "group_notices",
    "idempotency_key",
    "probe_payload",
]

_RANK = {"ok": 0, "warning": 1, "critical": 2}


@dataclass(frozen=True)
class Notice:
    """One alert's part of a message."""

    rule: str
    kind: str
    subject: str
    state: str  # firing | resolved
    severity: str
    statistic: str
    comparison: str
    value: float | None
    threshold: float | None
    sinks: tuple[str, ...]
    silenced: bool = False
    reminder_at: int | None = None  # the reminder's time (event time; wall clock for health)
    since_end: int | None = None
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def feature(self) -> str | None:
        """The feature the alert concerns (None: the model, or its segment, as a whole)."""
        return subject_parts(self.subject, self.evidence)[1]

    def member(self) -> dict[str, Any]:
        segment, feature = subject_parts(self.subject, self.evidence)
        return json_safe(
            {
                "rule": self.rule,
                "kind": self.kind,
                "segment": segment,
                "feature": feature,
                "state": self.state,
                "severity": self.severity,
                "statistic": self.statistic,
                "comparison": self.comparison,
                "value": self.value,
                "threshold": self.threshold,
                "reminder": self.reminder_at is not None,
                "since": iso(self.since_end) if self.since_end is not None else None,
                "evidence": self.evidence,
            }
        )

    @property
    def identity(self) -> tuple[str, str, str, str, int | None]:
        return (self.rule, self.subject, self.state, self.severity, self.reminder_at)


@dataclass(frozen=True)
class Notification:
    """One outbox row: a message for one sink."""

    key: str
    sink: str
    kind: str  # alert | test
    status: str  # pending | silenced | rate_limited
    model_id: str
    model_version: str
    window_end: int | None
    payload: dict[str, Any]


def idempotency_key(
    model_id: str, version: str, window_end: int | None, sink: str, members: Iterable[Sequence[Any]]
) -> str:
    material = json.dumps(
        [model_id, version, window_end, sink, sorted([list(m) for m in members], key=repr)],
        separators=(",", ":"),
    )
    return hashlib.sha256(material.encode()).hexdigest()


def dashboard_url(
    base: str | None, model_id: str, version: str, start_ms: int, end_ms: int
) -> str | None:
    """The Grafana dashboard link for a model version around a window.

    >>> dashboard_url("https://grafana.example.com/d/monitor", "fraud", "v1", 0, 60000)
    'https://grafana.example.com/d/monitor?var-model=fraud&var-version=v1&from=0&to=60000'
    """
    if not base:
        return None
    query = urlencode(
        {"var-model": model_id, "var-version": version, "from": start_ms, "to": end_ms}
    )
    return f"{base}{'&' if '?' in base else '?'}{query}"


def _features(notices: Sequence[Notice]) -> list[str]:
    seen: dict[str, None] = {}
    for n in notices:
        if n.feature:
            seen.setdefault(n.feature)
        for f in n.evidence.get("features", ()) if n.kind == "dataset_drift" else ():
            seen.setdefault(f)
    return list(seen)


def group_notices(
    model_id: str,
    version: str,
    window_start: int,
    window_end: int,
    notices: Sequence[Notice],
    grafana_url: str | None = None,
) -> list[tuple[str, bool, str, dict[str, Any]]]:
    """(sink, silenced, key, payload) per sink: every notice of the window routed to the sink
    in one message (silenced notices in a message of their own, recorded but not sent)."""
    by_sink: dict[tuple[str, bool], list[Notice]] = {}
    for n in notices:
        for sink in n.sinks:
            by_sink.setdefault((sink, n.silenced), []).append(n)
    out = []
    for (sink, silenced), members in sorted(by_sink.items()):
        members = sorted(
            members, key=lambda n: (n.state != "firing", -_RANK[n.severity], n.rule, n.subject)
        )
        key = idempotency_key(model_id, version, window_end, sink, [n.identity for n in members])
        firing = [n for n in members if n.state == "firing"]
        payload = {
            "type": "monitor.alert",
            "version": 1,
            "idempotency_key": key,
            "status": "firing" if firing else "resolved",
            "severity": max((n.severity for n in (firing or members)), key=_RANK.__getitem__),
            "model_id": model_id,
            "model_version": version,
            "window": {
                "start": iso(window_start),
                "end": iso(window_end),
                "start_ms": window_start,
                "end_ms": window_end,
            },
            "features": _features(members),
            "alerts": [n.member() for n in members],
            "dashboard_url": dashboard_url(
                grafana_url, model_id, version, window_start, window_end
            ),
        }
        out.append((sink, silenced, key, json_safe(payload)))
    return out


def probe_payload(sink: str, now_ms: int) -> dict[str, Any]:
    """The message ``monitor alerts test SINK`` sends."""
    key = hashlib.sha256(f"test|{sink}|{now_ms}".encode()).hexdigest()
    return {
        "type": "monitor.test",
        "version": 1,
        "idempotency_key": key,
        "status": "test",
        "severity": "warning",
        "model_id": "monitor-test",
        "model_version": "test",
        "window": {"start": iso(now_ms), "end": iso(now_ms), "start_ms": now_ms, "end_ms": now_ms},
        "features": [],
        "alerts": [],
        "dashboard_url": None,
        "message": f"Test notification from monitor to sink {sink!r}.",
    }
