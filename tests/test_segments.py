"""Drift per segment: the top-K rule, segment windows against a direct computation on the
segment's own events, merges across sources, persistence and the CLI contract."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from monitor.cli import main
from monitor.config import parse_config
from monitor.engine import Engine, MemoryReferences
from monitor.events import EventDecoder
from monitor.exceptions import ReferenceProfileError
from monitor.layout import Layout
from monitor.pipeline.closing import close, flush
from monitor.pipeline.files import replay
from monitor.reference import ReferenceProfile
from monitor.segments import OTHER, SegmentPlan, population, split, top_values

REGIONS = ("eu", "us", "apac", "br")
SHARES = (0.5, 0.3, 0.19, 0.01)  # br is too rare to be monitored on its own
FEATURES = {"x": {"kind": "numeric"}, "c": {"kind": "categorical"}}


def model(**extra: Any) -> dict[str, Any]:
    return {
        "features": FEATURES,
        "window": "100s",
        "prediction": "none",
        "score": False,
        "min_events": 200,
        "segments": {"keys": ["region"], "top_k": 2, "min_reference_rows": 50},
        **extra,
    }


def columns(n: int, seed: int, shift_us: float = 0.0) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    region = rng.choice(REGIONS, size=n, p=SHARES)
    x = (
        rng.normal(size=n)
        + np.where(region == "apac", 2.0, 0.0)
        + np.where(region == "us", shift_us, 0.0)
    )
    c = rng.choice(["a", "b", "c"], size=n, p=[0.6, 0.3, 0.1])
    return {"x": x, "c": c.tolist(), "region": region.tolist()}


def events(cols: dict[str, Any], start_ms: int = 0, step_ms: int = 10) -> list[dict[str, Any]]:
    return [
        {
            "model_id": "m",
            "model_version": "1",
            "prediction_id": str(i),
            "timestamp": start_ms + i * step_ms,
            "features": {"x": float(cols["x"][i]), "c": cols["c"][i]},
            "segments": {"region": cols["region"][i]},
        }
        for i in range(len(cols["x"]))
    ]


def to_bytes(evs: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(e).encode() + b"\n" for e in evs)


def run(
    cfg_model: dict[str, Any], ref: ReferenceProfile, evs: list[dict[str, Any]], sources: int = 1
) -> list:
    """Every event through an engine, spread round-robin over ``sources``."""
    cfg = parse_config({"models": {"m": cfg_model}})
    refs = MemoryReferences()
    refs.save_reference(ref)
    engine = Engine(cfg, refs)
    decoder = EventDecoder(cfg)
    closed = []
    for i in range(0, len(evs), 2_000):
        chunk = evs[i : i + 2_000]
        for s in range(sources):
            engine.process(f"s{s}", decoder.decode_lines(to_bytes(chunk[s::sources])), i)
        closed += close(engine, engine.watermark())
    return closed + flush(engine)


def reference(cfg_model: dict[str, Any], cols: dict[str, Any]) -> ReferenceProfile:
    cfg = parse_config({"models": {"m": cfg_model}}).models["m"]
    return ReferenceProfile.for_model("m", "*", cfg, cols)


# -- the top-K rule -----------------------------------------------------------------------------


def test_monitored_values_are_the_reference_top_k_with_enough_rows_ties_by_value() -> None:
    values = ["b"] * 5 + ["a"] * 5 + ["c"] * 9 + ["d"] * 2 + [None] * 20
    assert top_values(values, top_k=2, min_rows=3) == ("c", "a")
    assert top_values(values, top_k=10, min_rows=3) == ("c", "a", "b")
    assert top_values(reversed(values), top_k=2, min_rows=3) == ("c", "a")  # order-free
    names, codes = SegmentPlan({"k": ("c", "a")}).codes(["c", "b", "zzz", None, "a"], "k")
    assert names == ("c", "a", "other") and codes.tolist() == [0, 2, 2, -1, 1]


def test_population_keys_round_trip() -> None:
    for version, segment in [("1", ""), ("1", "region=eu"), ("v=2", "k=a=b")]:
        assert split(population(version, segment)) == (version, segment)


def test_segment_references_hold_each_value_and_the_rest_and_round_trip() -> None:
    cols = columns(20_000, 0)
    ref = reference(model(), cols)
    assert ref.plan.values == {"region": ("eu", "us")}
    by_value = ref.segments["region"]
    region = np.array(cols["region"])
    for value in ("eu", "us"):
        assert by_value[value].rows == int((region == value).sum())
        np.testing.assert_array_equal(
            by_value[value].columns["x"].edges,
            ReferenceProfile.build(
                "m",
                "*",
                Layout(("x",), ("c",)),
                {"x": cols["x"][region == value], "c": list(np.array(cols["c"])[region == value])},
            )
            .columns["x"]
            .edges,
        )
    assert by_value[OTHER].rows == int(np.isin(region, ["apac", "br"]).sum())
    again = ReferenceProfile.from_payload("m", "*", json.loads(json.dumps(ref.to_payload())))
    assert again.plan == ref.plan
    for value in ("eu", "us", OTHER):
        assert again.segments["region"][value].to_payload() == by_value[value].to_payload()


def test_other_is_the_whole_reference_when_every_value_is_monitored() -> None:
    cols = columns(5_000, 1)
    cols["region"] = ["eu" if i % 2 else "us" for i in range(5_000)]
    ref = reference(model(), cols)
    assert ref.segments["region"][OTHER] is ref
    again = ReferenceProfile.from_payload("m", "*", ref.to_payload())
    assert again.segments["region"][OTHER] is again


def test_a_reference_built_before_the_keys_were_configured_is_warned_about(caplog) -> None:
    plain = {k: v for k, v in model().items() if k != "segments"}
    old = reference(plain, columns(2_000, 2))
    with caplog.at_level("WARNING", logger="monitor.engine"):
        closed = run(model(), old, events(columns(1_000, 3)))
    assert closed[0].segments == []
    assert "has no segments of ['region'] (segments.keys)" in caplog.text


def test_a_reference_without_the_segment_column_is_refused() -> None:
    cols = columns(1_000, 2)
    del cols["region"]
    with pytest.raises(ReferenceProfileError, match="segment key column"):
        reference(model(), cols)


def test_a_segment_key_named_like_a_feature_is_refused_naming_the_key() -> None:
    from monitor.exceptions import ConfigError

    with pytest.raises(ConfigError, match=r"segments\.keys\.0"):
        parse_config({"models": {"m": model(segments={"keys": ["x"]})}})


# -- segment windows ----------------------------------------------------------------------------


def test_a_segment_window_equals_the_whole_pipeline_on_that_segment_alone() -> None:
    ref_cols, cols = columns(30_000, 3), columns(30_000, 4, shift_us=0.4)
    ref = reference(model(), ref_cols)
    closed = run(model(), ref, events(cols))
    region = np.array(cols["region"])
    plain = {k: v for k, v in model().items() if k != "segments"}
    for value, members in (
        ("eu", region == "eu"),
        ("us", region == "us"),
        (OTHER, np.isin(region, ["apac", "br"])),
    ):
        alone = [e for e, keep in zip(events(cols), members) if keep]
        sub_ref = ref.segments["region"][value]
        direct = run(plain, ReferenceProfile("m", "*", sub_ref.rows, sub_ref.columns), alone)
        seg = {(w.start_ms, s.segment): s for w in closed for s in w.segments}
        assert len(direct) == 3
        for d in direct:
            s = seg[(d.start_ms, f"region={value}")]
            assert (s.model_version, s.end_ms, s.dataset.events) == (
                d.model_version,
                d.end_ms,
                d.dataset.events,
            )
            assert [
                (c.feature, c.statistics, c.quality, c.drift, c.severity) for c in s.columns
            ] == [(c.feature, c.statistics, c.quality, c.drift, c.severity) for c in d.columns]


def test_drift_in_one_segment_is_flagged_there_and_only_there() -> None:
    ref = reference(model(), columns(30_000, 5))
    closed = run(model(), ref, events(columns(30_000, 6, shift_us=1.0)))
    for w in closed:
        flagged = {s.segment: s.dataset.drifted_features for s in w.segments}
        assert flagged == {"region=eu": (), "region=us": ("x",), "region=other": ()}, (
            w.start_ms,
            flagged,
        )


def test_segment_gauges_show_where_the_drift_is() -> None:
    from prometheus_client import CollectorRegistry

    from monitor.metrics import Metrics

    ref = reference(model(), columns(30_000, 5))
    closed = run(model(), ref, events(columns(10_000, 6, shift_us=1.0)))
    metrics = Metrics(CollectorRegistry())
    metrics.observe_windows(closed)

    def sample(name: str, segment: str, **labels: str) -> float | None:
        return metrics.registry.get_sample_value(
            name, {"model_id": "m", "model_version": "1", "segment": segment, **labels}
        )

    assert sample("monitor_segment_drift_severity", "region=us", feature="x") == 2
    assert sample("monitor_segment_drift_severity", "region=eu", feature="x") == 0
    assert sample("monitor_segment_drift_share", "region=us") == 0.5
    assert (
        sample("monitor_segment_window_events", "region=eu")
        == closed[-1].segments[0].dataset.events
    )


def test_segment_windows_merge_exactly_across_sources() -> None:
    ref = reference(model(), columns(20_000, 7))
    evs = events(columns(20_000, 8, shift_us=0.3))
    one, three = run(model(), ref, evs), run(model(), ref, evs, sources=3)

    def table(windows: list) -> dict:
        return {
            (w.start_ms, s.segment): [(c.feature, c.statistics) for c in s.columns]
            for w in windows
            for s in w.segments
        }

    assert table(one) == table(three) and len(table(one)) == 2 * 3


def test_events_without_the_segment_key_count_only_in_the_whole_window() -> None:
    ref = reference(model(), columns(20_000, 9))
    evs = events(columns(1_000, 10))
    for e in evs[::2]:
        del e["segments"]
    (w,) = run(model(), ref, evs)
    assert w.dataset.events == 1_000
    assert sum(s.dataset.events for s in w.segments) == 500


def test_a_production_baseline_brings_segment_references() -> None:
    cols = columns(3_000, 11)
    cfg_model = model(reference={"baseline_events": 2_000})
    cfg = parse_config({"models": {"m": cfg_model}})
    refs = MemoryReferences()
    engine = Engine(cfg, refs)
    engine.process("s", EventDecoder(cfg).decode_lines(to_bytes(events(cols))), 3_000)
    profile = refs.get_reference("m", "1")
    assert profile is not None and profile.plan.values == {"region": ("eu", "us")}
    assert profile.rows == 3_000  # the first batch is held whole
    assert profile.segments["region"]["eu"].rows == cols["region"].count("eu")
    (w,) = flush(engine)
    assert {s.segment for s in w.segments} == {"region=eu", "region=us", "region=other"}


# -- persistence and the CLI --------------------------------------------------------------------


def test_segment_windows_are_persisted_and_listed(tmp_path, store) -> None:
    ref_cols, cols = columns(20_000, 12), columns(20_000, 13, shift_us=1.0)
    cfg = parse_config({"database_url": store.url, "models": {"m": model()}})
    store.save_reference(reference(model(), ref_cols))
    path = tmp_path / "events.jsonl"
    path.write_bytes(to_bytes(events(cols)))
    report = replay(cfg, store, [path])
    assert len(report.windows) == 2
    whole = store.windows("m")
    assert {r["segment"] for r in whole} == {""} and len(whole) == 2 * 2
    us = store.windows("m", segment="region=us")
    assert [(r["feature"], r["drift"]) for r in us] == [("c", False), ("x", True)] * 2
    assert len(store.windows("m", segment=None)) == 2 * 2 * 4
    summaries = store.summaries("m", segment="region=us")
    assert [s["drifted_features"] for s in summaries] == [["x"], ["x"]]
    assert [s["segment"] for s in store.summaries("m")] == ["", ""]


def test_cli_windows_per_segment_json_contract(tmp_path) -> None:
    db = f"sqlite:///{tmp_path}/m.db"
    config = tmp_path / "monitor.yaml"
    config.write_text(json.dumps({"database_url": db, "models": {"m": model()}}))
    ref = tmp_path / "ref.jsonl"
    ref.write_bytes(to_bytes(events(columns(20_000, 14))))
    data = tmp_path / "events.jsonl"
    data.write_bytes(to_bytes(events(columns(10_000, 15, shift_us=1.0))))
    runner = CliRunner()
    built = runner.invoke(main, ["reference", "build", "-c", str(config), "-m", "m", str(ref)])
    assert built.exit_code == 0, built.output
    assert "segments of region: eu, us and other" in built.output
    assert runner.invoke(main, ["replay", "-c", str(config), str(data)]).exit_code == 0
    out = runner.invoke(
        main,
        ["windows", "-c", str(config), "-m", "m", "--segment", "region=us", "--format", "json"],
    )
    assert out.exit_code == 0, out.output
    rows = json.loads(out.output)
    assert {r["segment"] for r in rows} == {"region=us"}
    assert {r["feature"]: r["drift"] for r in rows} == {"x": True, "c": False}
    every = runner.invoke(
        main, ["windows", "-c", str(config), "-m", "m", "--segment", "*", "--format", "json"]
    )
    assert sorted({r["segment"] or "" for r in json.loads(every.output)}) == [
        "",
        "region=eu",
        "region=other",
        "region=us",
    ]
    table = runner.invoke(main, ["windows", "-c", str(config), "-m", "m", "--segment", "*"])
    assert "region=us" in table.output


# -- performance per segment --------------------------------------------------------------------


def test_performance_per_segment_follows_the_reference_plan(tmp_path, sqlite_url) -> None:
    from sklearn.metrics import accuracy_score

    from monitor.store import Store
    from monitor.store.performance import PerformanceRepository
    from monitor.synth import generate, labels_to_jsonl, reference_rows, to_jsonl
    from tests.helpers import rows_of, small_spec

    spec = small_spec(n_numeric=2, seed=3)
    features = {f.name: {"kind": f.kind} for f in spec.features}
    cfg = parse_config(
        {
            "database_url": sqlite_url,
            "models": {
                "demo": {
                    "window": "10m",
                    "features": features,
                    "reference": {"baseline_events": 0},
                    "topics": {"labels": "labels"},
                    "segments": {"keys": ["region"], "top_k": 2, "min_reference_rows": 50},
                }
            },
        }
    )
    store = Store(sqlite_url)
    store.upgrade()
    ref_rows = rows_of(reference_rows(spec, 10_000))
    ref_rows["region"] = ["eu"] * 4_000 + ["us"] * 3_000 + ["apac"] * 2_960 + ["br"] * 40
    store.save_reference(ReferenceProfile.for_model("demo", "*", cfg.models["demo"], ref_rows))
    cols = generate(spec, 12_000)
    region = np.array([("eu", "us", "apac", "br", "mx")[i % 5] for i in range(12_000)])
    lines = []
    for line, r in zip(to_jsonl(spec, cols).splitlines(), region):
        event = json.loads(line)
        event["segments"] = {"region": str(r)}
        lines.append(json.dumps(event).encode())
    (tmp_path / "p.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    (tmp_path / "l.jsonl").write_bytes(labels_to_jsonl(spec, cols))
    replay(cfg, store, [tmp_path / "p.jsonl"], labels=[tmp_path / "l.jsonl"])
    rows = PerformanceRepository(store).windows("demo")
    assert len(rows) == 2
    for row in rows:
        inside = (cols.timestamp >= row["window_start"]) & (cols.timestamp < row["window_end"])
        by_value = row["segments"]["region"]
        assert set(by_value) - {"fairness"} == {"eu", "us", OTHER}
        for value, members in (
            ("eu", region == "eu"),
            ("us", region == "us"),
            (OTHER, np.isin(region, ["apac", "br", "mx"])),
        ):
            mask = inside & members
            assert by_value[value]["n"] == mask.sum()
            assert by_value[value]["accuracy"] == pytest.approx(
                accuracy_score(cols.label[mask], cols.prediction[mask]), abs=1e-9
            )


# -- alerts per segment -------------------------------------------------------------------------


def test_a_rule_with_segments_fires_on_the_segment_that_drifted(store) -> None:
    from monitor.alerts import AlertEvaluator
    from monitor.alerts.sinks.slack import render
    from monitor.store import schema

    rules = [
        {
            "name": "drift",
            "kind": "feature_drift",
            "statistic": "psi",
            "critical": 0.25,
            "segments": True,
        },
        {"name": "shift", "kind": "dataset_drift", "critical": 0.5, "segments": True},
    ]
    cfg_model = model(rules=rules)
    cfg = parse_config(
        {
            "models": {"m": cfg_model},
            "alerts": {
                "sinks": {"slack": {"type": "slack", "url": "http://127.0.0.1:9/x"}},
                "routes": {"critical": ["slack"]},
            },
        }
    )
    closed = run(
        cfg_model,
        reference(cfg_model, columns(30_000, 5)),
        events(columns(10_000, 6, shift_us=1.0)),
    )
    evaluator = AlertEvaluator(cfg, store)
    with store.engine.begin() as conn:
        sent = evaluator.evaluate(conn, closed, 0)
    with store.engine.connect() as conn:
        firing = {
            (r.rule, r.subject) for r in conn.execute(schema.alerts.select()) if r.state == "firing"
        }
    assert {(rule, subject) for rule, subject in firing if subject.startswith("region=")} == {
        ("drift", "region=us/x"),
        ("shift", "region=us"),
    }
    members = [a for n in sent for a in n.payload["alerts"] if a["segment"]]
    assert {(a["rule"], a["segment"], a["feature"]) for a in members} == {
        ("drift", "region=us", "x"),
        ("shift", "region=us", None),
    }
    assert "`x` in `region=us`" in json.dumps(render(sent[0].payload))
    with store.engine.begin() as conn:  # the same windows again: nothing new
        assert evaluator.evaluate(conn, closed, 0) == []


def test_segments_are_refused_on_rules_judged_per_version() -> None:
    from monitor.exceptions import ConfigError

    with pytest.raises(ConfigError, match=r"rules\.0\.segments"):
        parse_config(
            {
                "models": {
                    "m": model(
                        rules=[
                            {
                                "name": "acc",
                                "kind": "performance",
                                "metric": "accuracy",
                                "critical": 0.8,
                                "segments": True,
                            }
                        ]
                    )
                }
            }
        )
