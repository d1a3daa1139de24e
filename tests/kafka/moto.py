"""A moto S3 server on loopback: the object store behind a Tansu broker whose topics must
survive a restart (``EmbeddedBroker(storage_engine="s3://bucket/", env=moto.env)``)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from types import TracebackType
from typing import Self

import boto3

from monitor.kafka.broker import free_port

__all__ = ["MotoServer"]

_HOST = "127.0.0.1"
_REGION = "us-east-1"
_KEY = "testing"  # moto accepts any credentials


class MotoServer:
    """``moto_server`` on a free loopback port with ``bucket`` created; a context manager."""

    def __init__(self, bucket: str = "tansu", *, startup_timeout: float = 20.0) -> None:
        self.bucket = bucket
        self.port = free_port()
        self.startup_timeout = startup_timeout
        self.log_path = tempfile.mkstemp(prefix="monitor-moto-", suffix=".log")[1]
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://{_HOST}:{self.port}"

    @property
    def storage_engine(self) -> str:
        return f"s3://{self.bucket}/"

    @property
    def env(self) -> dict[str, str]:
        """What Tansu's S3 storage (the Rust object_store crate) needs to talk to moto."""
        return {
            "AWS_ENDPOINT": self.endpoint,
            "AWS_ALLOW_HTTP": "true",
            "AWS_ACCESS_KEY_ID": _KEY,
            "AWS_SECRET_ACCESS_KEY": _KEY,
            "AWS_DEFAULT_REGION": _REGION,
        }

    def start(self) -> Self:
        log = open(self.log_path, "ab")  # noqa: SIM115 (the child keeps it open)
        self._process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", _HOST, "-p", str(self.port)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + self.startup_timeout
        while True:
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"moto_server exited with code {self._process.returncode}; log {self.log_path}"
                )
            with (
                contextlib.suppress(OSError),
                socket.create_connection((_HOST, self.port), timeout=0.5),
            ):
                break
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"moto_server did not listen within {self.startup_timeout}s")
            time.sleep(0.05)
        s3 = boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=_KEY,
            aws_secret_access_key=_KEY,
            region_name=_REGION,
        )
        s3.create_bucket(Bucket=self.bucket)
        return self

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        with contextlib.suppress(OSError):
            os.unlink(self.log_path)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
