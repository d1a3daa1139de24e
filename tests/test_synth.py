"""The seeded synthetic stream: chunk independence, drift, determinism, calibration, JSON."""

from __future__ import annotations

import json
from dataclasses import fields, replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.synth import (
    BLOCK,
    Columns,
    DriftSpec,
    FeatureSpec,
    StreamSpec,
    default_features,
    generate,
    labels_to_jsonl,
    reference_rows,
    to_jsonl,
)

FEATURES = default_features(n_numeric=6, categorical={"cat10": 10, "cat50": 50})
SPEC = StreamSpec(features=FEATURES, seed=3)
SPARSE = StreamSpec(
    features=(
        FeatureSpec("a", "numeric", missing_rate=0.2),
        FeatureSpec("b", "categorical", levels=4, missing_rate=0.3),
    ),
    seed=5,
)


def assert_same(a: Columns, b: Columns) -> None:
    for f in fields(Columns):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if f.name == "categorical":
            assert len(x) == len(y)
            for cx, cy in zip(x, y, strict=True):
                np.testing.assert_array_equal(cx, cy)
        else:
            np.testing.assert_array_equal(x, y, err_msg=f.name)


def concat(parts: list[Columns]) -> dict[str, np.ndarray]:
    return {
        "prediction_id": np.concatenate([p.prediction_id for p in parts]),
        "timestamp": np.concatenate([p.timestamp for p in parts]),
        "numeric": np.vstack([p.numeric for p in parts]),
        "score": np.concatenate([p.score for p in parts]),
        "prediction": np.concatenate([p.prediction for p in parts]),
        "label": np.concatenate([p.label for p in parts]),
        "label_timestamp": np.concatenate([p.label_timestamp for p in parts]),
        **{
            name: np.concatenate([p.categorical[i] for p in parts])
            for i, name in enumerate(parts[0].categorical_names)
        },
    }


@pytest.mark.parametrize("spec", [SPEC, SPARSE], ids=["default", "missing"])
def test_chunked_equals_one_shot(spec: StreamSpec) -> None:
    whole = generate(spec, 2000)
    parts = [generate(spec, 1000, offset=0), generate(spec, 1000, offset=1000)]
    got, want = concat(parts), concat([whole])
    assert got.keys() == want.keys()
    for name in want:
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.integers(min_value=0, max_value=3 * BLOCK), min_size=1, max_size=4),
    st.integers(min_value=0, max_value=3 * BLOCK),
)
def test_any_chunking_across_blocks_gives_the_same_events(sizes: list[int], offset: int) -> None:
    drifted = StreamSpec(features=FEATURES, drift=(DriftSpec("num_01", 1.0, BLOCK + 7),))
    starts = np.cumsum([offset, *sizes])
    parts = [generate(drifted, n, offset=int(o)) for n, o in zip(sizes, starts, strict=False)]
    whole = generate(drifted, sum(sizes), offset=offset)
    got, want = concat(parts), concat([whole])
    for name in want:
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)


def test_ids_and_timestamps_follow_the_index() -> None:
    cols = generate(SPEC, 3, offset=10)
    assert cols.prediction_id.tolist() == ["p10", "p11", "p12"]
    assert cols.timestamp.tolist() == [SPEC.start_ms + i * SPEC.interval_ms for i in (10, 11, 12)]
    assert cols.timestamp.dtype == np.int64
    delay = cols.label_timestamp - cols.timestamp
    assert ((delay >= SPEC.label_delay_ms) & (delay <= SPEC.label_delay_ms * 1.1)).all()


def test_same_seed_same_stream_other_seed_other_stream() -> None:
    assert_same(generate(SPEC, 500), generate(StreamSpec(features=FEATURES, seed=3), 500))
    other = generate(StreamSpec(features=FEATURES, seed=4), 500)
    assert not np.array_equal(other.numeric, generate(SPEC, 500).numeric)


def test_a_feature_does_not_depend_on_the_others() -> None:
    alone = StreamSpec(features=(FEATURES[2],), seed=3)
    np.testing.assert_array_equal(
        generate(alone, 100).numeric[:, 0], generate(SPEC, 100).numeric[:, 2]
    )


def test_numeric_drift_shifts_only_the_named_feature_after_start() -> None:
    # num_05 is not among the model's inputs (the first four numeric features).
    start, n = 3000, 6000
    drifted = generate(
        StreamSpec(features=FEATURES, seed=3, drift=(DriftSpec("num_05", 2.0, start),)), n
    )
    base = generate(SPEC, n)
    diff = drifted.numeric - base.numeric
    assert (diff[:start] == 0).all()
    assert (np.delete(diff, 5, axis=1) == 0).all()
    std = base.numeric[:, 5].std()
    np.testing.assert_allclose(diff[start:, 5], 2.0 * std, rtol=0.05)
    np.testing.assert_array_equal(drifted.score, base.score)
    for a, b in zip(drifted.categorical, base.categorical, strict=True):
        np.testing.assert_array_equal(a, b)


def test_drift_in_a_model_input_moves_the_score_after_start() -> None:
    start = 1000
    drifted = generate(
        StreamSpec(features=FEATURES, seed=3, drift=(DriftSpec("num_00", 1.0, start),)), 3000
    )
    base = generate(SPEC, 3000)
    np.testing.assert_array_equal(drifted.score[:start], base.score[:start])
    assert (drifted.score[start:] > base.score[start:]).all()  # num_00 has a positive weight


def test_categorical_drift_replaces_a_share_by_an_unseen_level() -> None:
    start, n = 2000, 40_000
    spec = StreamSpec(features=FEATURES, seed=3, drift=(DriftSpec("cat10", 0.3, start),))
    drifted, base = generate(spec, n), generate(SPEC, n)
    i = drifted.categorical_names.index("cat10")
    changed = drifted.categorical[i] != base.categorical[i]
    assert not changed[:start].any()
    assert set(drifted.categorical[i][changed].tolist()) == {"cat10_new"}
    assert abs(changed[start:].mean() - 0.3) < 0.01
    np.testing.assert_array_equal(drifted.categorical[1 - i], base.categorical[1 - i])
    np.testing.assert_array_equal(drifted.numeric, base.numeric)


def test_scores_are_calibrated_and_predictions_threshold_them() -> None:
    cols = generate(StreamSpec(features=default_features(), seed=11), 100_000)
    assert abs(cols.score.mean() - cols.label.mean()) < 0.01
    high = cols.score > 0.8
    assert abs(cols.score[high].mean() - cols.label[high].mean()) < 0.02
    np.testing.assert_array_equal(cols.prediction, (cols.score >= 0.5).astype(np.int64))
    assert set(np.unique(cols.label).tolist()) == {0, 1}


def test_feature_marginals_follow_the_spec() -> None:
    cols = generate(SPARSE, 50_000)
    assert abs(np.isnan(cols.numeric[:, 0]).mean() - 0.2) < 0.01
    values = cols.categorical[0]
    assert abs(np.mean([v is None for v in values.tolist()]) - 0.3) < 0.01
    levels, counts = np.unique([v for v in values.tolist() if v is not None], return_counts=True)
    assert levels.tolist() == ["b_0", "b_1", "b_2", "b_3"]
    assert (np.diff(counts) < 0).all()  # Zipf-like: decreasing with k


def test_reference_rows_are_undrifted_independent_draws() -> None:
    spec = StreamSpec(features=FEATURES, seed=3, drift=(DriftSpec("num_05", 5.0, 0),))
    ref = reference_rows(spec, 20_000)
    events = generate(SPEC, 20_000)
    assert not np.array_equal(ref.numeric, events.numeric)
    np.testing.assert_allclose(ref.numeric.mean(axis=0), events.numeric.mean(axis=0), atol=0.3)
    assert_same(ref, reference_rows(SPEC, 20_000))


def test_jsonl_carries_the_contract_and_round_trips_exactly() -> None:
    cols = generate(SPARSE, 300)
    lines = to_jsonl(SPARSE, cols).splitlines()
    assert len(lines) == 300
    for i, line in enumerate(map(json.loads, lines)):
        assert list(line) == [
            "model_id",
            "model_version",
            "prediction_id",
            "timestamp",
            "features",
            "prediction",
            "score",
        ]
        assert (line["model_id"], line["model_version"]) == ("demo", "v1")
        assert line["prediction_id"] == f"p{i}" and line["timestamp"] == cols.timestamp[i]
        a = cols.numeric[i, 0]
        assert line["features"]["a"] == (None if np.isnan(a) else a)
        assert line["features"]["b"] == cols.categorical[0][i]
        assert line["prediction"] == cols.prediction[i] and type(line["prediction"]) is int
        assert line["score"] == cols.score[i]  # exact: shortest round-tripping repr


def test_jsonl_of_chunks_is_the_jsonl_of_the_whole() -> None:
    whole = to_jsonl(SPEC, generate(SPEC, 20_000))  # spans several serialisation slices
    parts = [to_jsonl(SPEC, generate(SPEC, n, offset=o)) for n, o in ((7_000, 0), (13_000, 7_000))]
    assert b"".join(parts) == whole
    assert (
        whole.count(b"\n") == 20_000
        and json.loads(whole.splitlines()[-1])["prediction_id"] == "p19999"
    )


def test_any_feature_name_is_a_json_key() -> None:
    spec = StreamSpec(
        features=(FeatureSpec("my feature-1", "numeric"), FeatureSpec("ünï cödé", "categorical"))
    )
    event = json.loads(to_jsonl(spec, generate(spec, 1)))
    assert list(event["features"]) == ["my feature-1", "ünï cödé"]
    assert event["features"]["ünï cödé"].startswith("ünï cödé_")


def test_label_jsonl_carries_the_contract() -> None:
    cols = generate(SPEC, 100)
    labels = [json.loads(x) for x in labels_to_jsonl(SPEC, cols).splitlines()]
    assert [list(x) for x in labels] == [["model_id", "prediction_id", "label", "timestamp"]] * 100
    assert [x["prediction_id"] for x in labels] == cols.prediction_id.tolist()
    assert [x["label"] for x in labels] == cols.label.tolist()
    assert [x["timestamp"] for x in labels] == cols.label_timestamp.tolist()


def test_empty_chunk() -> None:
    cols = generate(SPEC, 0, offset=5)
    assert len(cols) == 0 and cols.numeric.shape == (0, 6)
    assert to_jsonl(SPEC, cols) == b"" and labels_to_jsonl(SPEC, cols) == b""


def test_columns_are_read_only() -> None:
    cols = generate(SPEC, 10)
    with pytest.raises(ValueError, match="read-only"):
        cols.score[0] = 1.0


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda: FeatureSpec('a"b', "numeric"),
            "name must not contain a backslash, a double quote or a control character, got 'a\"b'",
        ),
        (lambda: FeatureSpec("x", "text"), "kind must be 'numeric' or 'categorical', got 'text'"),  # type: ignore[arg-type]
        (lambda: FeatureSpec("x", "categorical", levels=0), "levels must be at least 1, got 0"),
        (
            lambda: FeatureSpec("x", "numeric", missing_rate=1.0),
            "missing_rate must be in [0, 1), got 1.0",
        ),
        (lambda: DriftSpec("x", 1.0, -5), "start must be non-negative, got -5"),
        (
            lambda: StreamSpec(features=FEATURES[:1] * 2),
            "feature names must be unique, got ['num_00', 'num_00']",
        ),
        (
            lambda: StreamSpec(features=FEATURES, interval_ms=-1),
            "interval_ms must be non-negative, got -1",
        ),
        (
            lambda: StreamSpec(features=FEATURES, label_delay_ms=-1),
            "label_delay_ms must be non-negative, got -1",
        ),
        (lambda: StreamSpec(features=FEATURES, seed=-1), "seed must be non-negative, got -1"),
        (
            lambda: StreamSpec(features=FEATURES, drift=(DriftSpec("nope", 1.0, 0),)),
            "drift feature 'nope' is not in features",
        ),
        (
            lambda: StreamSpec(features=FEATURES, drift=(DriftSpec("cat10", 1.5, 0),)),
            "categorical drift shift must be in [0, 1], got 1.5 for 'cat10'",
        ),
        (lambda: generate(SPEC, -1), "n must be non-negative, got -1"),
        (lambda: generate(SPEC, 1, offset=-1), "offset must be non-negative, got -1"),
        (lambda: default_features(n_numeric=-1), "n_numeric must be non-negative, got -1"),
    ],
)
def test_invalid_arguments_raise_exact_messages(make: object, message: str) -> None:
    with pytest.raises(ValueError) as err:
        make()  # type: ignore[operator]
    assert str(err.value) == message


def test_segments_are_drawn_apart_and_can_confine_drift_to_one_segment():
    base = StreamSpec(features=default_features(3, {"c": 4}), seed=3)
    tagged = replace(base, segments=(("region", ("eu", "us", "apac")),))
    plain, seg = generate(base, 20_000), generate(tagged, 20_000)
    assert (
        plain.numeric == seg.numeric
    ).all() and plain.segments == {}  # adding segments moves nothing
    region = seg.segments["region"]
    assert {v: round(float((region == v).mean()), 1) for v in ("eu", "us", "apac")} == {
        "eu": 0.3,
        "us": 0.3,
        "apac": 0.3,
    }
    parts = [generate(tagged, min(7_000, 20_000 - o), o) for o in (0, 7_000, 14_000)]
    assert (
        np.concatenate([p.segments["region"] for p in parts]) == region
    ).all()  # chunk-independent
    drifted = generate(
        replace(tagged, drift=(DriftSpec("num_01", 1.0, 10_000, segment="region=us"),)), 20_000
    )
    moved = drifted.numeric[:, 1] != seg.numeric[:, 1]
    assert (moved == ((np.arange(20_000) >= 10_000) & (region == "us"))).all()
    events = [json.loads(line) for line in to_jsonl(tagged, seg).splitlines()[:3]]
    assert [e["segments"]["region"] for e in events] == region[:3].tolist()
    with pytest.raises(ValueError, match="not in segments"):
        replace(tagged, drift=(DriftSpec("num_01", 1.0, 0, segment="region=mars"),))
