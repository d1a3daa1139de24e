"""Alerts and actions: rules with hysteresis, a durable outbox, Slack, signed webhooks and CI
retrain triggers (see ``docs/alerts.md``).

- :class:`AlertEvaluator` runs inside the checkpoint transaction: closed windows in, alert
  state, history and outbox rows out (step 9 of
  :meth:`monitor.pipeline.checkpoint.Checkpointer.transaction`).
- :class:`Dispatcher` delivers the outbox with retries, and judges pipeline health.
- :mod:`monitor.alerts.sinks`: Slack, webhook, GitHub, GitLab, generic CI.

Names are imported on first use (PEP 562): ``monitor --help`` imports
:mod:`monitor.alerts.cli`, which must not load the engine and the HTTP sinks with it.

>>> import monitor.alerts
>>> monitor.alerts.step.__module__
'monitor.alerts.state'
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what the lazy names resolve to, for type checkers and editors
    from monitor.alerts.dispatcher import Dispatcher
    from monitor.alerts.evaluator import AlertEvaluator
    from monitor.alerts.exceptions import AlertError, DeliveryError
    from monitor.alerts.notify import Notification
    from monitor.alerts.sinks import build_sinks
    from monitor.alerts.state import AlertState, step

#: public name -> the module that defines it
_EXPORTS = {
    "AlertError": "monitor.alerts.exceptions",
    "AlertEvaluator": "monitor.alerts.evaluator",
    "AlertState": "monitor.alerts.state",
    "DeliveryError": "monitor.alerts.exceptions",
    "Dispatcher": "monitor.alerts.dispatcher",
    "Notification": "monitor.alerts.notify",
    "build_sinks": "monitor.alerts.sinks",
    "step": "monitor.alerts.state",
}

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


def __getattr__(name: str) -> Any:
    """Import a public name on first use (PEP 562) and keep it."""
    if name not in _EXPORTS:
        raise AttributeError(f"module 'monitor.alerts' has no attribute {name!r}")
    value = getattr(import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
