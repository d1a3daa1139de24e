"""Fixtures of the alert tests: real HTTP receivers on 127.0.0.1, a fake clock, and builders of
closed windows and configs."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import select

from monitor.config import Config, parse_config
from monitor.drift import ColumnResult, DatasetResult
from monitor.engine import ClosedWindow
from monitor.store import Store

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
HOUR = 3_600_000
NOW = T0 + 1000 * HOUR  # wall clock of the evaluations (after every window)


# -- receivers ----------------------------------------------------------------------------------
@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    body: bytes = b"ok"


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    def json(self) -> Any:
        return json.loads(self.body)

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)


class Receiver:
    """An HTTP server in a thread that records every request and answers from a plan (a queue
    of replies; the default reply once the plan is empty)."""

    def __init__(self, port: int = 0, default: Reply | None = None) -> None:
        self.requests: list[Recorded] = []
        self.plan: deque[Reply] = deque()
        self.default = default or Reply()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._lock:
                    receiver.requests.append(
                        Recorded("POST", self.path, dict(self.headers.items()), body, time.time())
                    )
                    reply = receiver.plan.popleft() if receiver.plan else receiver.default
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                try:
                    self.send_response(reply.status)
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def keys(self) -> list[str | None]:
        return [r.header("Idempotency-Key") for r in self.requests]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.stop()


@pytest.fixture
def receivers() -> Iterator[Any]:
    """A factory of receivers, all stopped at the end."""
    started: list[Receiver] = []

    def make(**kwargs: Any) -> Receiver:
        r = Receiver(**kwargs)
        started.append(r)
        return r

    yield make
    for r in started:
        r.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Clock:
    """A settable clock in seconds (``time.time`` shaped); ``sleep`` advances it."""

    def __init__(self, t: float = NOW / 1000) -> None:
        self.t = t
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.t += seconds

    @property
    def ms(self) -> int:
        return int(self.t * 1000)


@pytest.fixture
def clock() -> Clock:
    return Clock()


# -- windows and configs ------------------------------------------------------------------------
def column(
    feature: str, psi: float = 0.0, missing_rate: float = 0.0, kind: str = "numeric"
) -> ColumnResult:
    stats = {"psi": psi, "ks": psi / 2, "ks_pvalue": 0.5, "js": psi / 3, "wasserstein": psi}
    quality = {
        "missing_rate": missing_rate,
        "missing_rate_change": missing_rate,
        "out_of_range": 0.0,
        "severity": "ok",
    }
    return ColumnResult(
        feature,
        kind,
        100,
        int(missing_rate * 100),
        stats,
        quality,
        psi >= 0.1,
        "critical" if psi >= 0.25 else "warning" if psi >= 0.1 else "ok",
    )


def window(
    i: int,
    psi: dict[str, float],
    *,
    missing: dict[str, float] | None = None,
    model: str = "fraud",
    version: str = "v1",
    baseline: bool = False,
    length: int = HOUR,
) -> ClosedWindow:
    """The ``i``-th hourly window after T0 with the given PSI (and missing rate) per feature."""
    cols = [column(f, p, (missing or {}).get(f, 0.0)) for f, p in psi.items()]
    drifted = tuple(c.feature for c in cols if c.drift)
    share = len(drifted) / len(cols) if cols else 0.0
    ds = DatasetResult(100, 100, len(cols), len(drifted), share, drifted, False, "ok", baseline)
    return ClosedWindow(model, version, T0 + i * length, T0 + (i + 1) * length, 1, cols, ds)


def make_config(
    rules: list[dict[str, Any]],
    *,
    sinks: dict[str, Any] | None = None,
    routes: dict[str, list[str]] | None = None,
    features: tuple[str, ...] = ("amount", "country", "tenure"),
    model: str = "fraud",
    **alerts: Any,
) -> Config:
    return parse_config(
        {
            "database_url": "sqlite://",
            "models": {
                model: {"features": {f: {"kind": "numeric"} for f in features}, "rules": rules}
            },
            "alerts": {"sinks": sinks or {}, "routes": routes or {}, **alerts},
        }
    )


def evaluate(
    store: Store, evaluator: Any, windows: list[ClosedWindow], now_ms: int = NOW
) -> list[Any]:
    """Evaluate in one transaction, as the checkpoint hook does."""
    with store.engine.begin() as conn:
        return evaluator.evaluate(conn, windows, now_ms)


def table(store: Store, t: Any, drop: tuple[str, ...] = ("id",)) -> list[dict[str, Any]]:
    """Every row of ``t`` without ``drop`` columns, in a stable order."""
    with store.engine.connect() as conn:
        rows = [
            {k: v for k, v in r.items() if k not in drop}
            for r in conn.execute(select(t)).mappings()
        ]
    return sorted(rows, key=lambda r: json.dumps(r, sort_keys=True, default=str))
