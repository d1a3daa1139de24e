"""The operations endpoint: ``/metrics`` (Prometheus), ``/healthz`` (alive), ``/readyz``.

Served from a daemon thread by the standard library's WSGI server; prometheus_client provides
the exposition.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app

__all__ = ["OpsServer"]


class _Quiet(WSGIRequestHandler):
    def log_message(
        self, format: str, *args: Any
    ) -> None:  # scrapes every few seconds: no log line each
        pass


class OpsServer:
    """``/metrics``, ``/healthz`` and ``/readyz`` on ``host:port`` (port 0: a free one).

    ``readiness`` returns (ready, reasons) — e.g. (False, {"database": "unreachable"}).
    """

    def __init__(
        self,
        registry: CollectorRegistry,
        readiness: Callable[[], tuple[bool, dict[str, str]]],
        host: str = "127.0.0.1",
        port: int = 9108,
    ) -> None:
        self._metrics = make_wsgi_app(registry)
        self.readiness = readiness
        self.server: WSGIServer = make_server(host, port, self._app, handler_class=_Quiet)
        self.thread = threading.Thread(
            target=self.server.serve_forever, name="monitor-http", daemon=True
        )

    @property
    def port(self) -> int:
        return self.server.server_port

    def start(self) -> OpsServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _app(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/healthz":
            return _json(start_response, 200, {"status": "alive"})
        if path == "/readyz":
            ready, reasons = self.readiness()
            return _json(start_response, 200 if ready else 503, {"ready": ready, **reasons})
        if path in ("/metrics", "/"):
            return self._metrics(environ, start_response)
        return _json(start_response, 404, {"error": f"no route {path}"})


def _json(start_response: Callable[..., Any], status: int, body: dict[str, Any]) -> list[bytes]:
    data = json.dumps(body).encode()
    reason = {200: "OK", 404: "Not Found", 503: "Service Unavailable"}[status]
    start_response(
        f"{status} {reason}",
        [("Content-Type", "application/json"), ("Content-Length", str(len(data)))],
    )
    return [data]
