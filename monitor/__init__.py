"""``monitor``: streaming model monitoring and drift detection on Kafka, SQL and Prometheus.

The public surface is the names in ``__all__``; every module below is internal and may change.

- the producer SDK: :class:`MonitorClient`, :class:`AsyncMonitorClient` for asyncio (and their
  :class:`ClientStats`);
- configuration: :func:`load_config` (a YAML file), :func:`parse_config` (a mapping),
  :class:`Config`, :class:`ModelConfig`;
- references: :class:`ReferenceProfile` (what a window is compared with);
- replay: :func:`replay_files` replays event files (JSONL, Avro) into a store, returning a
  :class:`ReplayReport` (``monitor replay`` on the command line);
- queries for notebooks and scripts: :class:`Query` (drift windows, performance windows,
  alerts and their history as :class:`Records` of :class:`DriftWindow`,
  :class:`PerformanceWindow`, :class:`Alert`, :class:`AlertTransition`, and as pandas
  DataFrames); lower down, :class:`Store` (``Store.windows``, ``summaries``, ``late_counts``,
  ``performance``) and the alerts' :func:`list_alerts` and :func:`alert_history`;
- errors: :class:`MonitorError`, the root of every error ``monitor`` raises, and
  :class:`ConfigError`.

>>> import monitor
>>> config = monitor.parse_config({"models": {"fraud": {"features": {"x": {"kind": "numeric"}}}}})
>>> sorted(config.models)
['fraud']
>>> store = monitor.Store("sqlite://")
>>> store.upgrade()
>>> store.windows("fraud"), store.summaries("fraud")
([], [])
>>> with store.tx() as conn:
...     monitor.list_alerts(conn, model_id="fraud")
[]

Names are imported on first use, so ``import monitor`` stays instant (0.1 ms) and the SDK
does not load the service: an eager import of all of them costs about 2 s
(``python -X importtime -c "import monitor"``). ``replay_files`` is
:func:`monitor.pipeline.files.replay`.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what the lazy names resolve to, for type checkers and editors
    from monitor.alerts.queries import alert_history, list_alerts
    from monitor.client import AsyncMonitorClient, ClientStats, MonitorClient
    from monitor.config import Config, ModelConfig, load_config, parse_config
    from monitor.exceptions import ConfigError, MonitorError
    from monitor.pipeline.files import ReplayReport
    from monitor.pipeline.files import replay as replay_files
    from monitor.query import (
        Alert,
        AlertTransition,
        DriftWindow,
        PerformanceWindow,
        Query,
        Records,
    )
    from monitor.reference import ReferenceProfile
    from monitor.store import Store

#: public name -> (module, name in it)
_EXPORTS = {
    "Alert": ("monitor.query", "Alert"),
    "AlertTransition": ("monitor.query", "AlertTransition"),
    "AsyncMonitorClient": ("monitor.client", "AsyncMonitorClient"),
    "ClientStats": ("monitor.client", "ClientStats"),
    "Config": ("monitor.config", "Config"),
    "ConfigError": ("monitor.exceptions", "ConfigError"),
    "DriftWindow": ("monitor.query", "DriftWindow"),
    "ModelConfig": ("monitor.config", "ModelConfig"),
    "MonitorClient": ("monitor.client", "MonitorClient"),
    "MonitorError": ("monitor.exceptions", "MonitorError"),
    "PerformanceWindow": ("monitor.query", "PerformanceWindow"),
    "Query": ("monitor.query", "Query"),
    "Records": ("monitor.query", "Records"),
    "ReferenceProfile": ("monitor.reference", "ReferenceProfile"),
    "ReplayReport": ("monitor.pipeline.files", "ReplayReport"),
    "Store": ("monitor.store", "Store"),
    "alert_history": ("monitor.alerts.queries", "alert_history"),
    "list_alerts": ("monitor.alerts.queries", "list_alerts"),
    "load_config": ("monitor.config", "load_config"),
    "parse_config": ("monitor.config", "parse_config"),
    "replay_files": ("monitor.pipeline.files", "replay"),
}

__all__ = [
    "Alert",
    "AlertTransition",
    "AsyncMonitorClient",
    "ClientStats",
    "Config",
    "ConfigError",
    "DriftWindow",
    "ModelConfig",
    "MonitorClient",
    "MonitorError",
    "PerformanceWindow",
    "Query",
    "Records",
    "ReferenceProfile",
    "ReplayReport",
    "Store",
    "alert_history",
    "list_alerts",
    "load_config",
    "parse_config",
    "replay_files",
]


def __getattr__(name: str) -> Any:
    """Import a public name on first use (PEP 562) and keep it."""
    try:
        module, attribute = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'monitor' has no attribute {name!r}") from None
    value = getattr(import_module(module), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
