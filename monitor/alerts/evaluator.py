"""The alert evaluator: closed windows in, alert state, history and outbox rows out, all in the
caller's transaction.

It runs inside the checkpoint transaction that closed the windows (see :meth:`hook`), so a
window's statistics, its alert transitions and the notifications they cause commit together or
not at all (DESIGN principle 5). For each window, in event-time order per model version:

1. every rule of the model observes the window (:mod:`monitor.alerts.rules`): one observation
   per feature for column rules, one for the model otherwise;
2. an alert (rule, model, version, feature) whose ``last_window_end`` is at or after the window
   end has seen this window already and is skipped: a replay, a restart that re-closes a window,
   or a checkpoint retried after a failure changes nothing;
3. each alert takes one step of the state machine (:mod:`monitor.alerts.state`); transitions go
   to ``alert_history``;
4. inhibition: a data-quality alert breaching or firing on a feature mutes the drift alerts on
   that feature (their state still moves and is recorded);
5. notices (first firing, escalation, reminder every ``repeat`` of event time, resolved) are
   routed to sinks by severity, grouped into one message per sink for the model, version and
   window (:mod:`monitor.alerts.notify`), and written to the outbox; silenced ones as
   ``silenced``, retrain triggers beyond the per-model rate limit as ``rate_limited``.

Windows fed as values (model performance) take the same path through :meth:`evaluate_values`;
pipeline health (no windows for a model for a while) is judged on the wall clock by
:meth:`check_health`, which the dispatcher calls.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, func, select

from monitor.alerts.notify import Notice, Notification, group_notices
from monitor.alerts.outbox import insert_notification
from monitor.alerts.rules import (
    WINDOW_KINDS,
    Observation,
    level_of,
    observe_values,
    observe_window,
    threshold_of,
)
from monitor.alerts.silences import active_silences, silenced
from monitor.alerts.state import RANK, AlertState, step
from monitor.config import RETRAIN_SINK_TYPES, Config, RuleConfig
from monitor.engine import ClosedWindow
from monitor.jsonsafe import json_safe
from monitor.store import Store, schema
from monitor.store.db import dialect_insert, upsert

__all__ = ["HEALTH_VERSION", "AlertEvaluator"]

log = logging.getLogger(__name__)

#: The model version of pipeline-health alerts (they concern the model, every version).
HEALTH_VERSION = "*"
_DRIFT_KINDS = frozenset({"feature_drift", "prediction_drift"})
_LATE_STATISTICS = frozenset({"late_events", "late_share"})


@dataclass
class _Step:
    rule: RuleConfig
    obs: Observation
    row: dict[str, Any] | None
    old: AlertState
    new: AlertState
    transition: str | None
    level: str | None
    since: int | None = None  # window end when the alert entered its current state
    inhibited: bool = False
    notice: Notice | None = None
    updates: dict[str, Any] = field(default_factory=dict)


class AlertEvaluator:
    """Evaluate the alert rules of ``config`` against closed windows, in a transaction of
    ``store``. ``metrics`` (a :class:`monitor.metrics.Metrics`) gets ``monitor_alerts_firing``."""

    def __init__(self, config: Config, store: Store, metrics: Any | None = None) -> None:
        self.config = config
        self.store = store
        self.metrics = metrics
        self._gauge: dict[
            str, set[tuple[str, str, str]]
        ] = {}  # model -> {(version, rule, severity)} ever set
        self._retrain = {
            name for name, s in config.alerts.sinks.items() if s.type in RETRAIN_SINK_TYPES
        }

    @property
    def judges_health(self) -> bool:
        """True when some model has a ``pipeline_health`` rule."""
        return any(
            r.kind == "pipeline_health" for m in self.config.models.values() for r in m.rules
        )

    # -- entry points --------------------------------------------------------------------------
    def evaluate(
        self, conn: Connection, windows: Sequence[ClosedWindow], now_ms: int
    ) -> list[Notification]:
        """Evaluate every rule on ``windows`` (in event-time order per model version) using
        ``conn`` only (the checkpoint's transaction, step 9 of
        :meth:`monitor.pipeline.checkpoint.Checkpointer.transaction`); returns the notifications
        written to the outbox."""
        out: list[Notification] = []
        touched: set[str] = set()
        for w in sorted(windows, key=lambda w: (w.model_id, w.model_version, w.end_ms, w.start_ms)):
            model = self.config.models.get(w.model_id)
            rules = [r for r in model.rules if r.kind in WINDOW_KINDS] if model is not None else []
            if not rules:
                continue
            extra = (
                self._late(conn, w) if any(r.statistic in _LATE_STATISTICS for r in rules) else {}
            )
            observed = [(r, observe_window(r, w, extra)) for r in rules]
            for seg in w.segments:  # late events are not told apart by segment: no extra
                observed += [
                    (r, [o.in_segment(seg.segment) for o in observe_window(r, seg)])
                    for r in rules
                    if r.segments
                ]
            out += self._evaluate(
                conn, w.model_id, w.model_version, w.start_ms, w.end_ms, observed, now_ms
            )
            touched.add(w.model_id)
        self._update_gauge(conn, touched)
        return out

    def evaluate_values(
        self,
        conn: Connection,
        model_id: str,
        version: str,
        window_start: int,
        window_end: int,
        values: Mapping[str, Any],
        kind: str | Iterable[str],
        now_ms: int | None = None,
    ) -> list[Notification]:
        """Evaluate the rules of ``kind`` (e.g. ``"performance"``) on one window given as values
        (``{"accuracy": 0.91, "reference": {"accuracy": 0.95}}``), with the same state machine,
        idempotence, grouping and outbox as drift windows."""
        kinds = {kind} if isinstance(kind, str) else set(kind)
        model = self.config.models.get(model_id)
        rules = [r for r in model.rules if r.kind in kinds] if model is not None else []
        if not rules:
            return []
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        observed = [(r, observe_values(r, values)) for r in rules]
        out = self._evaluate(conn, model_id, version, window_start, window_end, observed, now_ms)
        self._update_gauge(conn, {model_id})
        return out

    def check_health(self, conn: Connection, now_ms: int) -> list[Notification]:
        """Pipeline health: for each model with a ``pipeline_health`` rule, the seconds since
        the end of its latest persisted window, judged against the rule. A model that never
        had a window is not judged. The alert's events are keyed by that latest window end, so
        one gap in the data fires once however many processes check it."""
        out: list[Notification] = []
        touched = set()
        ws = schema.window_summaries
        for model_id, model in self.config.models.items():
            rules = [r for r in model.rules if r.kind == "pipeline_health"]
            if not rules:
                continue
            latest = conn.execute(
                select(func.max(ws.c.window_end)).where(ws.c.model_id == model_id)
            ).scalar()
            if latest is None:
                continue
            silence_s = max(0.0, (now_ms - int(latest)) / 1000)
            obs = Observation(
                "", silence_s, {"latest_window_end": int(latest), "silence_seconds": silence_s}
            )
            observed = [(r, [obs]) for r in rules]
            out += self._evaluate(
                conn,
                model_id,
                HEALTH_VERSION,
                int(latest),
                int(latest),
                observed,
                now_ms,
                clock_at=now_ms,
                guard=False,
            )
            touched.add(model_id)
        self._update_gauge(conn, touched)
        return out

    # -- one window ----------------------------------------------------------------------------
    def _evaluate(
        self,
        conn: Connection,
        model_id: str,
        version: str,
        start: int,
        end: int,
        observed: list[tuple[RuleConfig, list[Observation]]],
        now_ms: int,
        *,
        clock_at: int | None = None,
        guard: bool = True,
    ) -> list[Notification]:
        clock_at = end if clock_at is None else clock_at
        rows = self._load(conn, model_id, version, [r.name for r, _ in observed])
        steps: list[_Step] = []
        for rule, observations in observed:
            for obs in observations:
                row = rows.get((rule.name, obs.subject))
                if guard and row is not None and row["last_window_end"] >= end:
                    continue  # this window was evaluated for this alert already
                old = (
                    AlertState(row["state"], row["severity"], row["breaches"], row["clears"])
                    if row
                    else AlertState()
                )
                level = level_of(rule, obs.value)
                new, transition = step(old, level, for_=rule.for_, resolve_after=rule.resolve_after)
                since = row["since_end"] if row is not None and new.state == old.state else end
                steps.append(_Step(rule, obs, row, old, new, transition, level, since))
        if not steps:
            return []
        self._inhibit(steps)
        silences = active_silences(conn, now_ms, model_id)
        for s in steps:
            self._notice(s, model_id, clock_at, silenced(silences, model_id, s.rule.name))
        self._write_state(conn, model_id, version, start, end, steps, now_ms)
        notices = [s.notice for s in steps if s.notice is not None]
        return self._write_outbox(conn, model_id, version, start, end, notices, now_ms)

    def _inhibit(self, steps: list[_Step]) -> None:
        """A data-quality alert breaching or firing on a feature mutes drift alerts on it."""
        if not self.config.alerts.inhibit_drift_on_quality:
            return
        troubled = {
            s.obs.subject
            for s in steps
            if s.rule.kind == "data_quality"
            and s.obs.subject
            and (s.level in ("warning", "critical") or s.new.state == "firing")
        }
        for s in steps:
            if s.rule.kind in _DRIFT_KINDS and s.obs.subject in troubled:
                s.inhibited = True

    def _sinks(self, rule: RuleConfig, severity: str) -> tuple[str, ...]:
        named = rule.routes(severity)
        return named if named is not None else self.config.alerts.routes.get(severity, ())  # type: ignore[call-overload]

    def _notice(self, s: _Step, model_id: str, clock_at: int, is_silenced: bool) -> None:
        """Decide whether this step notifies, and what the alert row remembers about it."""
        row = s.row or {}
        notified_state = row.get("notified_state")
        notified_severity = row.get("notified_severity") or "ok"
        notified_at = row.get("notified_at")
        notified_sinks = list(row.get("notified_sinks") or [])
        s.updates = {
            "notified_state": notified_state,
            "notified_severity": row.get("notified_severity"),
            "notified_at": notified_at,
            "notified_sinks": notified_sinks or None,
        }
        state, reminder_at = None, None
        sinks: tuple[str, ...] = ()
        if s.new.state == "firing" and not s.inhibited:
            if notified_state != "firing" or RANK[s.new.severity] > RANK[notified_severity]:
                state, sinks = "firing", self._sinks(s.rule, s.new.severity)
            elif (
                s.rule.repeat
                and s.level in ("warning", "critical")
                and notified_at is not None
                and clock_at - notified_at >= s.rule.repeat
            ):
                # a reminder while the alert still breaches (not while it is recovering)
                state, reminder_at = "firing", clock_at
                sinks = tuple(
                    n for n in self._sinks(s.rule, s.new.severity) if n not in self._retrain
                )
        elif s.transition == "resolved" and notified_state == "firing":
            state, sinks = "resolved", tuple(n for n in notified_sinks if n not in self._retrain)
        if state is None:
            return
        if state == "firing":
            s.updates = {
                "notified_state": "firing",
                "notified_severity": s.new.severity
                if reminder_at is None
                else row.get("notified_severity"),
                "notified_at": clock_at,
                "notified_sinks": sorted(
                    set(notified_sinks if notified_state == "firing" else []) | set(sinks)
                )
                or None,
            }
        else:
            s.updates = {
                "notified_state": "resolved",
                "notified_severity": row.get("notified_severity"),
                "notified_at": clock_at,
                "notified_sinks": None,
            }
        if not sinks:
            return
        s.notice = Notice(
            rule=s.rule.name,
            kind=s.rule.kind,
            subject=s.obs.subject,
            state=state,
            severity=s.new.severity,
            statistic=s.rule.statistic or "",
            comparison=s.rule.comparison or ">=",
            value=s.obs.value,
            threshold=threshold_of(s.rule, s.new.severity),
            sinks=tuple(sinks),
            silenced=is_silenced,
            reminder_at=reminder_at,
            since_end=s.since,
            evidence=json_safe(s.obs.evidence),
        )

    # -- SQL -----------------------------------------------------------------------------------
    def _load(
        self, conn: Connection, model_id: str, version: str, rules: list[str]
    ) -> dict[tuple[str, str], dict[str, Any]]:
        t = schema.alerts
        q = select(t).where(
            t.c.model_id == model_id, t.c.model_version == version, t.c.rule.in_(rules)
        )
        if self.store.dialect == "postgresql":
            q = q.with_for_update()
        return {(r["rule"], r["subject"]): dict(r) for r in conn.execute(q).mappings()}

    def _late(self, conn: Connection, w: ClosedWindow) -> dict[str, Any]:
        """Late events counted so far for the panes of ``w`` (every job)."""
        t = schema.late_events
        late = conn.execute(
            select(func.coalesce(func.sum(t.c.count), 0)).where(
                t.c.model_id == w.model_id,
                t.c.model_version == w.model_version,
                t.c.pane_start >= w.start_ms,
                t.c.pane_start < w.end_ms,
            )
        ).scalar()
        late = int(late or 0)
        total = late + w.dataset.events
        return {"late_events": late, "late_share": late / total if total else 0.0}

    def _write_state(
        self,
        conn: Connection,
        model_id: str,
        version: str,
        start: int,
        end: int,
        steps: list[_Step],
        now_ms: int,
    ) -> None:
        rows, history = [], []
        for s in steps:
            since = s.since
            value = s.obs.value
            threshold = threshold_of(s.rule, s.level if s.level is not None else s.new.severity)
            rows.append(
                {
                    "rule": s.rule.name,
                    "model_id": model_id,
                    "model_version": version,
                    "subject": s.obs.subject,
                    "kind": s.rule.kind,
                    "state": s.new.state,
                    "severity": s.new.severity,
                    "value": value if value is not None else (s.row or {}).get("value"),
                    "threshold": threshold,
                    "breaches": s.new.breaches,
                    "clears": s.new.clears,
                    "since_end": since,
                    "last_window_end": max(end, (s.row or {}).get("last_window_end") or end),
                    "details": json_safe(s.obs.evidence),
                    "updated_ms": now_ms,
                    **s.updates,
                }
            )
            if s.transition is not None:
                history.append(
                    {
                        "rule": s.rule.name,
                        "model_id": model_id,
                        "model_version": version,
                        "subject": s.obs.subject,
                        "window_start": start,
                        "window_end": end,
                        "from_state": s.old.state,
                        "to_state": s.new.state,
                        "severity": s.new.severity,
                        "value": value,
                        "threshold": threshold,
                        "inhibited": s.inhibited,
                        "at_ms": now_ms,
                        "details": json_safe(
                            {
                                **s.obs.evidence,
                                "notified": s.notice is not None and not s.notice.silenced,
                                "silenced": bool(s.notice and s.notice.silenced),
                            }
                        ),
                    }
                )
        upsert(conn, schema.alerts, rows)
        if history:
            conn.execute(self._insert(schema.alert_history).on_conflict_do_nothing(), history)
        for s in steps:
            if s.transition is not None:
                log.info(
                    "alert %s on %s %s%s: %s -> %s (%s)",
                    s.rule.name,
                    model_id,
                    version,
                    f" {s.obs.subject}" if s.obs.subject else "",
                    s.old.state,
                    s.new.state,
                    s.new.severity,
                    extra={"model_id": model_id, "model_version": version, "window_start": start},
                )

    def _insert(self, table: Any) -> Any:
        return dialect_insert(self.store.dialect, table)

    def _write_outbox(
        self,
        conn: Connection,
        model_id: str,
        version: str,
        start: int,
        end: int,
        notices: list[Notice],
        now_ms: int,
    ) -> list[Notification]:
        if not notices:
            return []
        out = []
        for sink, is_silenced, key, payload in group_notices(
            model_id, version, start, end, notices, self.config.alerts.grafana_url
        ):
            status = "silenced" if is_silenced else "pending"
            limited = (
                sink in self._retrain
                and not is_silenced
                and self._rate_limited(conn, sink, model_id, now_ms)
            )
            if limited:
                status = "rate_limited"
            n = Notification(key, sink, "alert", status, model_id, version, end, payload)
            if insert_notification(conn, self.store.dialect, n, now_ms):
                out.append(n)
                if sink in self._retrain and status == "pending":
                    trigger = {"sink": sink, "model_id": model_id, "last_ms": now_ms, "key": key}
                    upsert(conn, schema.retrain_triggers, [trigger])
                if status != "pending":
                    log.info(
                        "notification for sink %s on %s %s recorded as %s",
                        sink,
                        model_id,
                        version,
                        status,
                    )
        return out

    def _rate_limited(self, conn: Connection, sink: str, model_id: str, now_ms: int) -> bool:
        t = schema.retrain_triggers
        last = conn.execute(
            select(t.c.last_ms).where(t.c.sink == sink, t.c.model_id == model_id)
        ).scalar()
        period = getattr(self.config.alerts.sinks[sink], "rate_limit", 0)
        return last is not None and now_ms - int(last) < period

    def _update_gauge(self, conn: Connection, models: set[str]) -> None:
        """Set ``monitor_alerts_firing{model_id,model_version,rule,severity}`` from the alerts
        table: 1 while the rule fires (on any feature) for the model version, else 0."""
        gauge = getattr(self.metrics, "alerts_firing", None) if self.metrics is not None else None
        if gauge is None or not models:
            return
        t = schema.alerts
        q = (
            select(t.c.model_id, t.c.model_version, t.c.rule, t.c.severity)
            .where(t.c.state == "firing", t.c.model_id.in_(sorted(models)))
            .distinct()
        )
        current: dict[str, set[tuple[str, str, str]]] = {m: set() for m in models}
        for r in conn.execute(q):
            current[r.model_id].add((r.model_version, r.rule, r.severity))
        for model_id, firing in current.items():
            for version, rule, severity in self._gauge.get(model_id, set()) - firing:
                gauge.labels(
                    model_id=model_id, model_version=version, rule=rule, severity=severity
                ).set(0)
            for version, rule, severity in firing:
                gauge.labels(
                    model_id=model_id, model_version=version, rule=rule, severity=severity
                ).set(1)
            self._gauge[model_id] = self._gauge.get(model_id, set()) | firing
