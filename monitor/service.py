"""Wiring of ``monitor run``: broker (embedded when none is configured), topics, database,
the operations endpoint and the consumer loop."""

from __future__ import annotations

import contextlib
import logging

import click

from monitor.alerts import Dispatcher
from monitor.config import Config
from monitor.engine import ClosedWindow
from monitor.exceptions import KafkaError
from monitor.format import iso
from monitor.http import OpsServer
from monitor.kafka.service import KafkaService
from monitor.kafka.topics import client_config, create_topics
from monitor.metrics import Metrics
from monitor.store import Store

__all__ = ["serve", "show", "segment_drift_lines"]

log = logging.getLogger("monitor")


def show(windows: list[ClosedWindow]) -> None:
    """One line per closed window, drifted features named, and one per segment that drifted
    (the terminal view of ``run``)."""
    for w in windows:
        drifted = [c for c in w.columns if c.drift]
        what = ", ".join(f"{c.feature} ({c.severity}, psi={c.statistics.get('psi') or 0:.3f})" for c in drifted)
        status = f"DRIFT: {what}" if drifted else "baseline (builds the reference)" if w.dataset.baseline else "ok"
        click.echo(f"window {w.model_id} {w.model_version} {iso(w.start_ms)}..{iso(w.end_ms)[11:]} events={w.dataset.events:<6} {status}")
        for line in segment_drift_lines(w):
            click.echo(line)


def segment_drift_lines(window: ClosedWindow) -> list[str]:
    """A line per segment of ``window`` with features that drifted there but not in the whole
    window (drift the whole population's numbers dilute)."""
    whole = set(window.dataset.drifted_features)
    lines = []
    for s in window.segments:
        only = [f for f in s.dataset.drifted_features if f not in whole]
        if only:
            lines.append(f"  segment {s.segment}: DRIFT there only: {', '.join(only)}")
    return lines


def serve(config: Config, *, bootstrap_servers: str | None = None, metrics_port: int | None = None, print_windows: bool = True) -> None:
    with contextlib.ExitStack() as stack:
        servers = bootstrap_servers or config.kafka.bootstrap_servers
        if servers is None:
            from monitor.kafka.broker import EmbeddedBroker

            broker = stack.enter_context(EmbeddedBroker())
            servers = broker.bootstrap_servers
            log.info("no kafka.bootstrap_servers configured: started the embedded Tansu broker on %s (memory only, for development)", servers)
        try:
            create_topics(client_config(config, **{"bootstrap.servers": servers}), config)
        except KafkaError as exc:
            log.warning("could not create topics (continuing with existing ones): %s", exc)
        store = Store(config.database_url)
        store.upgrade()
        metrics = Metrics()
        dispatcher = Dispatcher.from_config(config, store, metrics=metrics).start()
        stack.callback(dispatcher.close)
        service = KafkaService(config, store, bootstrap_servers=servers, metrics=metrics, on_windows=show if print_windows else None)
        port = config.metrics.port if metrics_port is None else metrics_port
        ops = OpsServer(metrics.registry, service.readiness, config.metrics.host, port).start()
        stack.callback(ops.stop)
        log.info("metrics, /healthz and /readyz on http://%s:%d; database %s; group %s", config.metrics.host, ops.port, store.safe_url, service.job)
        service.run()
        log.info("stopped cleanly")

