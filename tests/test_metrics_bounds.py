"""``/metrics`` stays bounded whatever versions producers send.

3,000 model versions (one window each) used to give 84k series and a 17.5 MB exposition taking
4.9 s per scrape. The series of a model's ``max_versions`` most recent versions are kept.
"""

from __future__ import annotations

from dataclasses import replace

from prometheus_client import CollectorRegistry, generate_latest

from monitor.metrics import Metrics
from tests.helpers import config_for, engine_for, feed, jsonl, small_spec

SPEC = small_spec()


def test_three_thousand_versions_keep_the_series_of_the_latest_twenty() -> None:
    cfg = config_for(SPEC, window="1m")
    window = feed(engine_for(SPEC, cfg, reference_size=2_000), cfg, jsonl(SPEC, 600), 600)[0]
    one = Metrics(CollectorRegistry())
    one.observe_windows([window])
    size_of_one = len(generate_latest(one.registry))

    metrics = Metrics(CollectorRegistry(), max_versions={SPEC.model_id: 20})
    metrics.observe_windows([replace(window, model_version=f"v{i}") for i in range(3_000)])
    text = generate_latest(metrics.registry).decode()
    versions = {
        line.split('model_version="')[1].split('"')[0]
        for line in text.splitlines()
        if 'model_version="' in line
    }
    assert versions == {f"v{i}" for i in range(2_980, 3_000)}
    assert len(text) < 21 * size_of_one  # about 20 versions' worth, not 3,000
    assert f'monitor_windows_closed_total{{model_id="{SPEC.model_id}"}} 3000.0' in text


def test_a_version_seen_again_is_kept() -> None:
    cfg = config_for(SPEC, window="1m")
    window = feed(engine_for(SPEC, cfg, reference_size=2_000), cfg, jsonl(SPEC, 600), 600)[0]
    metrics = Metrics(CollectorRegistry(), max_versions={SPEC.model_id: 2})
    for version in ("a", "b", "a", "c"):
        metrics.observe_windows([replace(window, model_version=version)])
    text = generate_latest(metrics.registry).decode()
    assert 'model_version="a"' in text and 'model_version="c"' in text
    assert 'model_version="b"' not in text


def test_a_version_dropped_and_seen_again_has_its_series_back() -> None:
    """Series are kept between windows (Metrics._child); a dropped version's go with it, and
    come back whole when the version does."""
    cfg = config_for(SPEC, window="1m")
    window = feed(engine_for(SPEC, cfg, reference_size=2_000), cfg, jsonl(SPEC, 600), 600)[0]
    metrics = Metrics(CollectorRegistry(), max_versions={SPEC.model_id: 1})
    for version in ("a", "b", "a"):
        metrics.observe_windows([replace(window, model_version=version)])
    text = generate_latest(metrics.registry).decode()
    series = [line for line in text.splitlines() if 'model_version="a"' in line]
    assert 'model_version="b"' not in text
    alone = Metrics(CollectorRegistry())
    alone.observe_windows([replace(window, model_version="a")])
    expected = [
        line
        for line in generate_latest(alone.registry).decode().splitlines()
        if 'model_version="a"' in line
    ]
    assert series == expected
