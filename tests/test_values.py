"""One spelling of values (monitor.values) for every reader: a reference written by pandas (CSV,
Parquet, JSONL) and JSON events of the same rows are the same data: no drift, nothing unseen."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.datasets import load_breast_cancer

from monitor.config import parse_config
from monitor.events import LabelDecoder
from monitor.layout import Layout
from monitor.performance.estimation import reference_calibration
from monitor.pipeline.files import replay
from monitor.reference import CategoricalProfile, ReferenceProfile, read_reference_rows
from monitor.store import Store
from monitor.values import aliases, categories, category, detect_kind, numbers

T0 = 1_700_000_000_000


# -- spelling ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("values", "spelled"),
    [
        ((True, "True", "TRUE", "true", np.bool_(True)), "true"),
        ((False, "False", "FALSE", "false"), "false"),
        ((1, 1.0, "1", "1.0", "1.00", np.int64(1), np.float64(1.0), "1e0"), "1"),
        ((-3, -3.0, "-3", "-3.0"), "-3"),
        ((0, 0.0, -0.0, "0", "-0", "0.0"), "0"),
        ((2.5, "2.5", "2.50", np.float32(2.5)), "2.5"),
        (("01234",), "01234"),  # not a JSON number: a post code keeps its zero
        (("yes", "+1", ".5", "1.", " 1"), None),  # text stays as written (checked below)
    ],
)
def test_each_spelling_of_a_value_is_one_category(values, spelled):
    for value in values:
        assert category(value) == (spelled if spelled is not None else value), value


@pytest.mark.parametrize("missing", [None, float("nan"), float("inf"), -math.inf, np.nan])
def test_missing_values_are_not_categories(missing):
    assert category(missing) is None


@given(st.integers(-(2**53) + 1, 2**53 - 1))
def test_an_integer_in_any_spelling_is_one_category(i):
    assert category(i) == category(float(i)) == category(str(i)) == category(f"{i}.0") == str(i)


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_a_float_and_its_json_text_are_one_category(x):
    assert category(x) == category(json.dumps(x)) == category(repr(x))


@given(
    st.lists(
        st.one_of(
            st.booleans(), st.integers(-5, 5), st.floats(-3, 3), st.text(max_size=3), st.none()
        )
    )
)
def test_a_column_spelled_at_once_equals_each_value_spelled(values):
    assert categories(values) == [category(v) for v in values]


@given(
    st.lists(
        st.one_of(st.booleans(), st.integers(0, 3), st.sampled_from(["1.0", "True", "2.5", "x"])),
        min_size=1,
    ),
    st.lists(
        st.one_of(
            st.booleans(),
            st.integers(0, 3),
            st.floats(0, 3),
            st.sampled_from(["1.0", "TRUE", "2.50", "x", "y"]),
        )
    ),
)
def test_the_hot_path_lookup_agrees_with_the_spelling(reference, events):
    """What the sketch does (monitor.sketches.sketch): the raw value in ``codes``, else its
    spelling. A hit is the category the spelling names, except the documented reads of 1/0 as
    true/false: in a column of only true/false or only 0/1, and a boolean in a column without
    true or false."""
    prof = CategoricalProfile.build("c", reference)
    vocab, codes = prof.vocab, prof.codes
    swap = {"true": "1", "false": "0", "1": "true", "0": "false"}
    for value in events:
        code = codes.get(value, codes.get(category(value), len(vocab)))
        spelled = category(value)
        if code == len(vocab):
            assert spelled not in vocab, (value, vocab)
        elif vocab[code] != spelled:
            flags = set(vocab) <= {"true", "false"} or set(vocab) <= {"0", "1"}
            boolean = spelled in ("true", "false") and not {"true", "false"} & set(vocab)
            assert (flags or boolean) and swap[spelled] == vocab[code], (value, vocab)


def test_aliases_keep_true_apart_from_one_where_both_are_categories():
    codes = aliases(("1", "true", "0"))
    assert 1 not in codes and 0 not in codes  # True is the key 1: both are spelled instead
    assert (codes["1"], codes["true"], codes["0"]) == (0, 1, 2)


def test_numbers_read_booleans_and_blanks():
    out = numbers(["1.5", "", None, "True", "FALSE", 3])
    assert (
        out[0] == 1.5
        and np.isnan(out[1])
        and np.isnan(out[2])
        and out[3:].tolist() == [1.0, 0.0, 3.0]
    )
    with pytest.raises(ValueError, match="row 1: 'x' is not a number"):
        numbers(["1", "x"])


@pytest.mark.parametrize(
    ("values", "kind"),
    [
        (["True", "False", None, ""], "boolean"),
        ([True, False], "boolean"),
        (["1.0", "2.0", 3], "integer"),
        (np.array([1.0, 2.0, np.nan]), "integer"),
        (["0.5", 1], "numeric"),
        (["a", 1], "categorical"),
        ([None, float("nan")], "empty"),
    ],
)
def test_detected_kinds(values, kind):
    assert detect_kind(values) == kind


# -- labels ----------------------------------------------------------------------------------------
def test_labels_spelled_as_floats_are_the_classes_of_integer_labels():
    """A reference with labels 1.0/0.0 and positive_class "1" reports the calibration of the
    data, the same as with integer labels (it said ECE 0.499)."""
    cfg = parse_config({"models": {"m": {"features": {"x": {"kind": "numeric"}}}}}).models["m"]
    rng = np.random.default_rng(3)
    scores = rng.random(5000)
    labels = (rng.random(5000) < scores).astype(int)
    as_ints = reference_calibration(cfg, {"score": scores.tolist(), "label": labels.tolist()})
    as_floats = reference_calibration(
        cfg, {"score": scores.tolist(), "label": [f"{v:.1f}" for v in labels]}
    )
    as_bools = reference_calibration(
        cfg, {"score": scores.tolist(), "label": [str(bool(v)) for v in labels]}
    )
    assert as_floats["ece"] == as_ints["ece"] < 0.05 and as_floats["calibrated"]
    assert (
        as_bools["n"] == 5000
    )  # true is not the class "1": the labels are boolean (see test_column_mapping)


def test_label_events_in_every_spelling_are_one_class():
    cfg = parse_config({"models": {"m": {"features": {"x": {"kind": "numeric"}}}}})
    raw = [1, 1.0, "1", "1.0", 0, 0.0, "0"]
    out = LabelDecoder(cfg).decode_values(
        [
            json.dumps(
                {"model_id": "m", "prediction_id": f"p{i}", "label": v, "timestamp": 5}
            ).encode()
            for i, v in enumerate(raw)
        ]
        + [b'{"model_id": "m", "prediction_id": "n", "label": NaN, "timestamp": 5}']
    )
    assert out.batches["m"].labels == ["1", "1", "1", "1", "0", "0", "0"]
    assert [(e.position, e.reason) for e in out.errors] == [(7, "wrong_type")]


# -- a pandas pipeline's files and its JSON events -----------------------------------------------
def _mixed_frame(n: int = 6000) -> pd.DataFrame:
    rng = np.random.default_rng(12)
    visits = pd.Series(rng.integers(0, 6, n), dtype="float64")
    visits[rng.random(n) < 0.05] = np.nan  # an int column with a gap: pandas writes 3.0
    score = rng.random(n).round(6)  # pandas writes JSON floats with 10 digits
    return pd.DataFrame(
        {
            "member": rng.random(n) < 0.3,
            "plan": rng.integers(0, 5, n),
            "visits": visits,
            "amount": rng.lognormal(3, 1, n).round(2),
            "n_tx": rng.poisson(4, n),
            "region": rng.choice(["eu", "us", "br", "01234"], n),
            "score": score,
            "prediction": (score > 0.5).astype(int),
            "label": (rng.random(n) < score).astype(float),  # 1.0 / 0.0
        }
    )


def _cancer_frame() -> pd.DataFrame:
    """scikit-learn's bundled breast cancer table, with a boolean, a string and an integer
    column derived as a pipeline would."""
    df = load_breast_cancer(as_frame=True).frame.iloc[:, [0, 1, 2, 20, 30]].copy()
    df.columns = ["radius", "texture", "perimeter", "worst_radius", "label"]
    df["large"] = df["radius"] > 15
    df["size"] = pd.cut(df["radius"], [0, 12, 15, 100], labels=["s", "m", "l"]).astype(str)
    df["texture_bin"] = (df["texture"] // 5).astype(int)
    df["prediction"] = (df["worst_radius"] < 16.8).astype(int)
    return df


MIXED = {
    "member": "categorical",
    "plan": "categorical",
    "visits": "categorical",
    "amount": "numeric",
    "n_tx": "numeric",
    "region": "categorical",
}
CANCER = {
    "radius": "numeric",
    "texture": "numeric",
    "perimeter": "numeric",
    "large": "categorical",
    "size": "categorical",
    "texture_bin": "categorical",
}


def _config(features: dict[str, str], db: str, score: bool) -> object:
    return parse_config(
        {
            "database_url": db,
            "models": {
                "m": {
                    "features": {n: {"kind": k} for n, k in features.items()},
                    "score": score,
                    "window": "1d",
                    "min_events": 10,
                }
            },
        }
    )


def _events(df: pd.DataFrame, features: dict[str, str], path: Path, score: bool) -> Path:
    """The rows as JSON events, from pandas' own JSON (true, 3.0, null)."""
    rows = [json.loads(line) for line in df.to_json(orient="records", lines=True).splitlines()]
    with path.open("w") as fh:
        for i, row in enumerate(rows):
            event = {
                "model_id": "m",
                "model_version": "1",
                "prediction_id": f"p{i}",
                "timestamp": T0 + i,
                "features": {f: row[f] for f in features},
                "prediction": row["prediction"],
            }
            if score:
                event["score"] = row["score"]
            fh.write(json.dumps(event) + "\n")
    return path


def _written(df: pd.DataFrame, tmp_path: Path) -> dict[str, Path]:
    paths = {
        "csv": tmp_path / "ref.csv",
        "parquet": tmp_path / "ref.parquet",
        "jsonl": tmp_path / "ref.jsonl",
    }
    df.to_csv(paths["csv"], index=False)
    df.to_parquet(paths["parquet"], index=False)
    df.to_json(paths["jsonl"], orient="records", lines=True)
    return paths


@pytest.mark.parametrize(
    ("frame", "features", "score"), [(_mixed_frame, MIXED, True), (_cancer_frame, CANCER, False)]
)
def test_every_reader_gives_the_same_reference(tmp_path, frame, features, score):
    df = frame()
    cfg = _config(features, "sqlite://", score).models["m"]
    payloads = {
        kind: ReferenceProfile.for_model("m", "1", cfg, read_reference_rows(path)).to_payload()
        for kind, path in _written(df, tmp_path).items()
    }
    assert payloads["csv"] == payloads["parquet"] == payloads["jsonl"]
    columns = payloads["csv"]["columns"]
    if "member" in columns:
        assert set(columns["member"]["vocab"]) == {"true", "false"}
        assert (
            set(columns["visits"]["vocab"]) == {"0", "1", "2", "3", "4", "5"}
            and columns["visits"]["missing"] > 0
        )
        assert "01234" in columns["region"]["vocab"]


@pytest.mark.parametrize(
    ("frame", "features", "score"), [(_mixed_frame, MIXED, True), (_cancer_frame, CANCER, False)]
)
def test_a_pandas_csv_reference_and_json_events_of_the_same_rows_do_not_drift(
    tmp_path, db_url, frame, features, score
):
    df = frame()
    config = _config(features, db_url, score)
    store = Store(db_url)
    store.upgrade()
    rows = read_reference_rows(_written(df, tmp_path)["csv"])
    store.save_reference(ReferenceProfile.for_model("m", "*", config.models["m"], rows))
    report = replay(config, store, [_events(df, features, tmp_path / "events.jsonl", score)])
    assert report.events == len(df) and not report.invalid
    (window,) = report.windows
    judged = {c.feature: c for c in window.columns}
    assert set(judged) == {*features, "prediction", *(["score"] if score else [])}
    for c in judged.values():
        assert c.count == len(df) and not c.drift and c.severity == "ok", (
            c.feature,
            c.statistics,
            c.quality,
        )
        assert c.statistics["psi"] == pytest.approx(0, abs=1e-9), c.feature
        if c.kind == "categorical":
            assert c.quality["unseen_share"] == 0, c.feature
    assert not window.dataset.drifted_features


def test_segment_values_are_spelled_as_the_reference_spells_them():
    """A reference CSV holds a segment column as pandas writes it (True, 1.0); events carry
    segments as strings however their producer spelled them."""
    rows = {"x": [0.5] * 300, "flag": ["True"] * 200 + ["False"] * 100, "tier": ["1.0"] * 300}
    ref = ReferenceProfile.build(
        "m",
        "1",
        Layout(numeric=("x",), categorical=()),
        rows,
        fine_bins=10,
        segments=("flag", "tier"),
        min_segment_rows=50,
    )
    assert ref.plan.values == {"flag": ("true", "false"), "tier": ("1",)}
    assert ref.plan.codes(["true", "True", "TRUE", "False", "yes", None], "flag")[1].tolist() == [
        0,
        0,
        0,
        1,
        2,
        -1,
    ]
    assert ref.plan.codes(["1", "1.0", "01"], "tier")[1].tolist() == [0, 0, 1]
