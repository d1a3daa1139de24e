"""Wiring of ``monitor run``: the operations endpoint, broker (embedded when none is
configured), topics, database and the consumer loop."""

from __future__ import annotations

import contextlib
import errno
import logging
from collections.abc import Callable, Mapping

import click
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.core import CounterMetricFamily

from monitor.alerts import Dispatcher
from monitor.config import Config
from monitor.engine import ClosedWindow
from monitor.exceptions import EndpointError, KafkaError
from monitor.format import window_lines
from monitor.http import OpsServer
from monitor.kafka.topics import client_config, create_topics
from monitor.metrics import Metrics
from monitor.pipeline.kafka import KafkaService
from monitor.store import Store

__all__ = ["serve", "show"]

log = logging.getLogger("monitor")


def show(windows: list[ClosedWindow]) -> None:
    """The terminal view of ``run``: :func:`monitor.format.window_lines` of each window."""
    for w in windows:
        for line in window_lines(w):
            click.echo(line)


def serve(
    config: Config,
    *,
    bootstrap_servers: str | None = None,
    metrics_port: int | None = None,
    print_windows: bool = True,
    registry: CollectorRegistry = REGISTRY,
    preflight: Callable[[Store, str], list[str]] | None = None,
) -> None:
    """Run the service until SIGINT/SIGTERM.

    The operations endpoint listens first, so a taken port fails at once
    (:class:`EndpointError`, naming ``metrics.port`` and ``--metrics-port``) before a broker or
    database is touched; ``/readyz`` answers 503 "starting" until the consumer is built.

    ``preflight(store, bootstrap_servers)`` returns start-up warnings (see
    :mod:`monitor.preflight`), logged once the port, the broker and the database are known good.

    The last line tells the truth about the final checkpoint: "stopped cleanly" when it was
    written, else a WARNING saying how many seconds of work were not checkpointed and why. That
    work is not lost (the next start reads it again from Kafka, from the checkpointed positions,
    while the topics retain it), so the exit status stays 0 either way.
    """
    port = config.metrics.port if metrics_port is None else metrics_port
    service: KafkaService | None = None

    def readiness() -> tuple[bool, dict[str, str]]:
        return service.readiness() if service is not None else (False, {"service": "starting"})

    with contextlib.ExitStack() as stack:
        ops = _listen(registry, readiness, config.metrics.host, port).start()
        stack.callback(ops.stop)
        servers = bootstrap_servers or config.kafka.bootstrap_servers
        if servers is None:
            from monitor.kafka.broker import ADDRESS_FILE, DevBroker

            embedded = config.kafka.embedded
            broker = stack.enter_context(
                DevBroker(port=embedded.port, storage=embedded.storage, data_dir=embedded.data_dir)
            )
            servers = broker.bootstrap_servers
            log.info(
                "no kafka.bootstrap_servers configured: started the embedded Tansu broker on %s "
                "(for development; topics %s; address in %s)",
                servers,
                f"kept in {embedded.data_dir}" if embedded.storage == "disk" else "in memory only",
                ADDRESS_FILE,
            )
        try:
            create_topics(client_config(config, **{"bootstrap.servers": servers}), config)
        except KafkaError as exc:
            log.warning("could not create topics (continuing with existing ones): %s", exc)
        store = Store(config.database_url)
        store.upgrade()
        for warning in preflight(store, servers) if preflight else ():
            log.warning("%s", warning)
        metrics = Metrics(registry)
        dispatcher = Dispatcher.from_config(config, store, metrics=metrics).start()
        stack.callback(dispatcher.close)
        service = KafkaService(
            config,
            store,
            bootstrap_servers=servers,
            metrics=metrics,
            on_windows=show if print_windows else None,
        )
        quarantined = service.checkpointer.quarantined  # counted in place by the checkpointer
        metrics.register_state(lambda: [_quarantined(quarantined)])
        log.info(
            "metrics, /healthz and /readyz on http://%s:%d; database %s; group %s",
            config.metrics.host,
            ops.port,
            store.safe_url,
            service.job,
        )
        if service.run():
            log.info("stopped cleanly")
            return
        checkpointer = service.checkpointer
        log.warning(
            "stopped; the last %.0f s of work were not checkpointed (%s): they will be read again "
            "from Kafka on the next start, from the last checkpoint's positions",
            checkpointer.clock() - checkpointer.last_success,
            checkpointer.last_error or "dead letters were not delivered, so the checkpoint waited",
        )


def _listen(
    registry: CollectorRegistry,
    readiness: Callable[[], tuple[bool, dict[str, str]]],
    host: str,
    port: int,
) -> OpsServer:
    """The operations endpoint on ``host:port``; a port it cannot take is an EndpointError."""
    try:
        return OpsServer(registry, readiness, host, port)
    except OSError as exc:
        hint = " (another monitor on this host?)" if exc.errno == errno.EADDRINUSE else ""
        raise EndpointError(
            f"cannot serve /metrics, /healthz and /readyz on {host}:{port}: {exc.strerror}{hint}; "
            "choose another port with metrics.port in the config or --metrics-port "
            "(0: any free port)"
        ) from exc


def _quarantined(counts: Mapping[tuple[str, str], int]) -> CounterMetricFamily:
    """``monitor_checkpoint_quarantined_total``: parts of checkpoints the database refused."""
    family = CounterMetricFamily(
        "monitor_checkpoint_quarantined",
        "Parts of checkpoints the database refused, set aside in the quarantine table",
        labels=["model_id", "part"],
    )
    for (model_id, part), n in sorted(counts.items()):
        family.add_metric([model_id, part], n)
    return family
