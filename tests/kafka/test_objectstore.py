"""The disk-backed S3 subset the development broker persists to: the preconditions Tansu's
optimistic updates rely on, listings, ranges, and keys that try to leave the root."""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator

import pytest

from monitor.kafka.objectstore import make_server

Call = Callable[..., tuple[int, bytes, dict[str, str]]]


@pytest.fixture
def s3(tmp_path) -> Iterator[Call]:
    server = make_server(tmp_path / "root", 0)
    (tmp_path / "root" / "b").mkdir(parents=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    def call(method: str, path: str, body: bytes | None = None, **headers: str):
        url = f"http://127.0.0.1:{server.server_port}{path}"
        request = urllib.request.Request(url, data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=10) as r:
                return r.status, r.read(), dict(r.headers)
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read(), dict(exc.headers)

    yield call
    server.shutdown()
    server.server_close()


def test_conditional_puts(s3):
    assert s3("PUT", "/b/w.json", b"1", **{"If-None-Match": "*"})[0] == 200
    assert s3("PUT", "/b/w.json", b"2", **{"If-None-Match": "*"})[0] == 412
    etag = s3("HEAD", "/b/w.json")[2]["ETag"]
    assert s3("PUT", "/b/w.json", b"3", **{"If-Match": etag})[0] == 200
    assert s3("PUT", "/b/w.json", b"4", **{"If-Match": etag})[0] == 412  # replaced since
    assert s3("PUT", "/b/none.json", b"5", **{"If-Match": etag})[0] == 412
    assert s3("GET", "/b/w.json")[1] == b"3"


def test_get_range_delete(s3):
    s3("PUT", "/b/k", b"0123456789")
    status, body, headers = s3("GET", "/b/k", Range="bytes=2-4")
    assert (status, body, headers["Content-Range"]) == (206, b"234", "bytes 2-4/10")
    assert s3("GET", "/b/k", Range="bytes=-3")[1] == b"789"
    assert s3("DELETE", "/b/k")[0] == 204
    assert s3("GET", "/b/k")[0] == 404


def test_list_with_prefix_delimiter_and_start_after(s3):
    for key in ("t/p0/r/1.batch", "t/p0/r/2.batch", "t/p0/w.json", "t/p1/w.json", "u"):
        s3("PUT", f"/b/{key}", b"x")
    body = s3("GET", "/b?list-type=2&prefix=t/p0/r/")[1].decode()
    assert body.count("<Key>") == 2 and "<Key>t/p0/r/1.batch</Key>" in body
    body = s3("GET", "/b?list-type=2&prefix=t/&delimiter=/")[1].decode()
    assert "<Key>" not in body
    assert body.count("<CommonPrefixes>") == 2 and "<Prefix>t/p1/</Prefix>" in body
    body = s3("GET", "/b?list-type=2&prefix=t/p0/r/&start-after=t/p0/r/1.batch")[1].decode()
    assert "<Key>t/p0/r/2.batch</Key>" in body and "1.batch" not in body.split("<Contents>")[1]
    assert s3("GET", "/nobucket?list-type=2")[0] == 404


@pytest.mark.parametrize("key", ["/b/../escape", "/b/a//b", "/b/./a", "/../x", "/b/a/%2e%2e/x"])
def test_keys_never_leave_the_root(s3, tmp_path, key):
    assert s3("PUT", key, b"x")[0] == 400
    assert not list(tmp_path.glob("escape*")) and not (tmp_path / "x.obj").exists()
