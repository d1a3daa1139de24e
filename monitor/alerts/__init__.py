"""Alerts and actions: rules with hysteresis, a durable outbox, Slack, signed webhooks and CI
retrain triggers (see ``docs/alerts.md``).

- :class:`AlertEvaluator` runs inside the checkpoint transaction: closed windows in, alert
  state, history and outbox rows out (step 9 of
  :meth:`monitor.pipeline.checkpoint.Checkpointer.transaction`).
- :class:`Dispatcher` delivers the outbox with retries, and judges pipeline health.
- :mod:`monitor.alerts.sinks`: Slack, webhook, GitHub, GitLab, generic CI.
"""

from monitor.alerts.dispatcher import Dispatcher
from monitor.alerts.evaluator import AlertEvaluator
from monitor.alerts.exceptions import AlertError, DeliveryError
from monitor.alerts.notify import Notification
from monitor.alerts.sinks import build_sinks
from monitor.alerts.state import AlertState, step

__all__ = [
    "AlertError",
    "AlertEvaluator",
    "AlertState",
    "DeliveryError",
    "Dispatcher",
    "Notification",
    "build_sinks",
    "step",
]
