"""Cardinality is bounded whatever producers send: 3,000 model versions through `monitor run`.

Seen before: 3,000 distinct ``model_version`` values (one event each) gave RSS 1.2 GB, a 17.5 MB
``/metrics`` with 84k series taking 4.9 s per scrape, and 36k window rows. With ``max_versions``
(default 20) the versions past the limit are dead letters (``too_many_versions``) while 20 have
open windows, and ``/metrics`` keeps the series of 20 versions.
"""

from __future__ import annotations

import urllib.request
from pathlib import Path

import msgspec
import pytest

from tests.kafka.kit import (
    ServiceProcess,
    configured_topic,
    prepare_store,
    produce,
    stream,
    wait_for,
)

pytestmark = pytest.mark.slow

VERSIONS = 3_000
#: Stated bounds (docs/events.md, "Bounds"): a 3,000-version flood costs no more than this.
MAX_METRICS_BYTES = 512 * 1024
MAX_RSS_MB = 600


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return (
        int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")))
        / 1024
    )


def test_three_thousand_versions_stay_within_the_stated_bounds(
    tmp_path, bootstrap, topic_factory, group_id, sqlite_url
) -> None:
    topic = topic_factory(2)
    cfg, path = configured_topic(tmp_path, bootstrap, topic, group_id, sqlite_url)
    spec, data = stream(VERSIONS)
    events = [msgspec.json.decode(line) for line in data.splitlines()]
    for i, e in enumerate(events):
        e["model_version"] = f"flood-{i}"  # one event each, all in one window
    store = prepare_store(cfg, spec)  # a "*" reference: every version has one
    produce(bootstrap, topic, [msgspec.json.encode(e) for e in events])

    process = ServiceProcess(path, tmp_path / "run.log").start()
    try:
        wait_for(
            lambda: (process.sample("monitor_events_consumed_total") or 0) >= VERSIONS,
            120,
            "every event consumed",
        )
        wait_for(
            lambda: (process.sample("monitor_dead_letters_total") or 0) >= VERSIONS - 20,
            60,
            "the dead letters",
        )
        # the one 10 s window closes once both partitions are idle (wall clock): 20 versions'
        # windows
        wait_for(
            lambda: (process.sample("monitor_windows_closed_total") or 0) >= 20,
            120,
            "the admitted versions' windows",
        )
        with urllib.request.urlopen(f"http://127.0.0.1:{process.port}/metrics", timeout=30) as r:
            text = r.read()
        assert process.process is not None
        rss = rss_mb(process.process.pid)
    finally:
        assert process.stop() == 0
    refused = sum(
        1
        for line in text.decode().splitlines()
        if line.startswith('monitor_dead_letters_total{reason="too_many_versions"}')
    )
    assert refused == 1
    assert b'monitor_dead_letters_total{reason="too_many_versions"} 2980.0' in text
    print(f"\n/metrics {len(text):,} bytes, peak RSS {rss:.0f} MB")
    assert len(text) < MAX_METRICS_BYTES, len(text)
    assert rss < MAX_RSS_MB, rss
    versions = {
        line.split('model_version="')[1].split('"')[0]
        for line in text.decode().splitlines()
        if 'model_version="' in line
    }
    assert len(versions) == 20 and all(v.startswith("flood-") for v in versions)
    assert len({r["model_version"] for r in store.windows("demo", segment=None)}) == 20
