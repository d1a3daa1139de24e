"""Reference profiles: reading reference files, building profiles, and their payload round trip.

The small hand-written files in ``tests/data`` make the expected columns obvious; the payload
round trip runs on seeded random columns of several shapes (continuous, heavy-tailed, discrete,
constant), because the store keeps a profile only as its payload.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from monitor.config import parse_config
from monitor.exceptions import ReferenceProfileError
from monitor.layout import Layout
from monitor.reference import (
    OUTER_BINS,
    CategoricalProfile,
    NumericProfile,
    ReferenceProfile,
    category,
    read_reference_rows,
)

DATA = Path(__file__).parent / "data"

CFG = parse_config(
    {
        "models": {
            "fraud": {
                "features": {
                    "amount": {"kind": "numeric"},
                    "age": {"kind": "numeric"},
                    "country": {"kind": "categorical"},
                }
            }
        }
    }
)
LAYOUT = Layout.from_model(CFG.models["fraud"])


def build(rows, fine_bins: int = 10) -> ReferenceProfile:
    return ReferenceProfile.build("fraud", "*", LAYOUT, rows, fine_bins, source="test")


# -- reading files --------------------------------------------------------------------------------
def test_csv_rows_become_string_columns():
    rows = read_reference_rows(DATA / "reference_rows.csv")
    assert rows == {
        "amount": ["12.5", "80.0", "3.25", "45.0", "19.99"],
        "age": ["34", "51", None, "29", "62"],
        "country": ["de", "fr", "us", None, "de"],
        "score": ["0.12", "0.91", "0.40", "0.77", "0.05"],
        "prediction": ["0", "1", "0", "1", "0"],
    }


def test_a_profile_built_from_csv_parses_numbers_and_counts_empty_cells_missing():
    profile = build(read_reference_rows(DATA / "reference_rows.csv"))
    assert profile.rows == 5 and list(profile.columns) == [
        "amount",
        "age",
        "score",
        "country",
        "prediction",
    ]
    age = profile.columns["age"]
    assert age.kind == "numeric" and age.missing == 1
    assert (age.edges[0], age.edges[-1]) == (
        29.0,
        np.nextafter(62.0, np.inf),
    )  # the max stays inside
    assert profile.columns["amount"].missing == 0
    assert profile.columns["prediction"].vocab == ("0", "1")


def test_an_empty_csv_cell_of_a_categorical_column_is_missing():
    """CSV has no null: an empty cell is a missing value for every column kind, as it is for
    numeric columns and as ``null`` is in the event stream."""
    country = build(read_reference_rows(DATA / "reference_rows.csv")).columns["country"]
    assert country.missing == 1
    assert country.vocab == ("de", "fr", "us")


def test_jsonl_flat_rows_keep_types_and_fill_absent_keys_with_none():
    rows = read_reference_rows(DATA / "reference_rows.jsonl")
    assert rows == {
        "amount": [12.5, 80.0, 3.25, 45.0],
        "age": [34, 51, None, None],
        "country": ["de", "fr", "us", None],
        "channel": [None, None, "web", None],
    }


def test_jsonl_prediction_events_lift_features_and_keep_prediction_and_score():
    rows = read_reference_rows(DATA / "reference_events.jsonl")
    assert rows == {
        "amount": [12.5, 80.0, 3.25],
        "age": [34, 51, None],
        "country": ["de", "fr", "us"],
        "prediction": [0, 1, 0],
        "score": [0.12, 0.91, None],
    }
    profile = build(rows)
    assert profile.columns["score"].missing == 1 and profile.columns["prediction"].vocab == (
        "0",
        "1",
    )


@pytest.mark.parametrize("suffix", [".ndjson", ".json", ".JSONL"])
def test_other_jsonl_suffixes(tmp_path, suffix):
    path = tmp_path / f"rows{suffix}"
    path.write_bytes((DATA / "reference_rows.jsonl").read_bytes())
    assert read_reference_rows(path) == read_reference_rows(DATA / "reference_rows.jsonl")


def test_an_upper_case_csv_suffix(tmp_path):
    path = tmp_path / "ROWS.CSV"
    path.write_bytes((DATA / "reference_rows.csv").read_bytes())
    assert read_reference_rows(path)["amount"][0] == "12.5"


@pytest.mark.parametrize("name", ["rows.txt", "rows.xlsx", "rows"])
def test_an_unsupported_suffix_is_refused(tmp_path, name):
    path = tmp_path / name
    path.write_text("amount\n1\n")
    with pytest.raises(ReferenceProfileError, match="unsupported reference file type"):
        read_reference_rows(path)


def test_a_jsonl_row_that_is_not_an_object_is_refused(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text('{"amount": 1}\n[1, 2]\n')
    with pytest.raises(ReferenceProfileError, match="must be an object, got list"):
        read_reference_rows(path)


def test_a_malformed_jsonl_line_is_a_reference_error(tmp_path):
    """Third-party errors are wrapped at the boundary: the CLI turns MonitorError into one line
    and exit status 2, anything else into a traceback."""
    path = tmp_path / "rows.jsonl"
    path.write_text('{"amount": 1}\n{"amount": oops}\n')
    with pytest.raises(ReferenceProfileError):
        read_reference_rows(path)


# -- building profiles ----------------------------------------------------------------------------
def test_a_non_numeric_value_in_a_numeric_column_names_the_column_and_row():
    rows = read_reference_rows(DATA / "reference_rows.csv")
    rows["age"][3] = "twenty-nine"
    with pytest.raises(
        ReferenceProfileError, match=r"reference column 'age' row 3: 'twenty-nine' is not a number"
    ):
        build(rows)


def test_a_non_numeric_json_value_names_the_column():
    with pytest.raises(ReferenceProfileError, match="'amount'"):
        build({"amount": [1.0, {"x": 1}], "age": [1, 2], "country": ["a", "b"]})


def test_a_missing_configured_feature_is_refused_but_prediction_and_score_are_optional():
    with pytest.raises(ReferenceProfileError, match=r"\['age'\]"):
        build({"amount": [1.0, 2.0], "country": ["a", "b"]})
    profile = build({"amount": [1.0, 2.0], "age": [3, 4], "country": ["a", "b"]})
    assert set(profile.columns) == {"amount", "age", "country"}


def test_an_empty_reference_is_refused():
    with pytest.raises(ReferenceProfileError, match="no rows"):
        build({"amount": [], "age": [], "country": []})


@pytest.mark.parametrize("values", [[None, None], ["", ""], [float("nan"), float("inf")]])
def test_an_all_missing_numeric_column_is_refused(values):
    with pytest.raises(ReferenceProfileError, match="'age' has no finite values"):
        build({"amount": [1.0, 2.0], "age": values, "country": ["a", "b"]})


def test_an_all_missing_categorical_column_is_refused():
    with pytest.raises(ReferenceProfileError, match="'country' has no values"):
        build({"amount": [1.0, 2.0], "age": [1, 2], "country": [None, None]})


def test_a_constant_column_gets_one_inner_bin_holding_every_value():
    prof = NumericProfile.build("c", np.full(500, 7.25), fine_bins=100)
    assert prof.inner_bins == 1 and prof.edges[0] == 7.25 and prof.edges[1] > 7.25
    assert prof.scale == 1.0 and prof.missing == 0
    assert prof.counts[prof.in_range].tolist() == [500] and int(prof.counts.sum()) == 500
    back = NumericProfile.from_payload("c", json.loads(json.dumps(prof.to_payload())))
    np.testing.assert_array_equal(back.bin_edges, prof.bin_edges)
    np.testing.assert_array_equal(back.counts, prof.counts)


def test_numeric_profile_shape():
    values = np.random.default_rng(3).normal(10.0, 2.0, 5000)
    values[:50] = np.nan
    prof = NumericProfile.build("x", values, fine_bins=200)
    assert prof.inner_bins == 200 and prof.missing == 50
    assert len(prof.bin_edges) == 201 + 2 * OUTER_BINS and prof.n_bins == len(prof.bin_edges) + 1
    assert np.all(np.diff(prof.bin_edges) > 0)
    assert prof.edges[0] == np.nanmin(values) and prof.edges[-1] == np.nextafter(
        np.nanmax(values), np.inf
    )
    assert prof.scale == pytest.approx(np.nanstd(values))
    assert int(prof.counts.sum()) == 4950


def test_categories_are_spelled_the_way_json_spells_them():
    assert [category(v) for v in (True, False, 1, 1.0, 2.5, "x")] == [
        "true",
        "false",
        "1",
        "1",
        "2.5",
        "x",
    ]
    prof = CategoricalProfile.build("c", ["b", "a", "b", 1, 1.0, True, None])
    assert (
        prof.vocab == ("1", "b", "a", "true")
        and prof.counts.tolist() == [2, 2, 1, 1, 0]
        and prof.missing == 1
    )


# -- the payload round trip -----------------------------------------------------------------------
def _columns() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(11)
    return {
        "normal": rng.normal(0.0, 1.0, 4000),
        "lognormal": rng.lognormal(2.0, 1.0, 4000),
        "discrete": rng.integers(0, 3, 4000).astype(float),
        "with_missing": np.where(rng.random(4000) < 0.1, np.nan, rng.normal(50.0, 5.0, 4000)),
    }


def _round_trip(prof: NumericProfile) -> NumericProfile:
    return NumericProfile.from_payload(prof.name, json.loads(json.dumps(prof.to_payload())))


@pytest.mark.parametrize("name", list(_columns()))
def test_payload_round_trip_keeps_bin_edges(name):
    prof = NumericProfile.build(name, _columns()[name], fine_bins=100)
    back = _round_trip(prof)
    np.testing.assert_array_equal(back.edges, prof.edges)
    np.testing.assert_array_equal(back.bin_edges, prof.bin_edges)
    assert (back.scale, back.missing, back.inner_bins) == (
        prof.scale,
        prof.missing,
        prof.inner_bins,
    )


@pytest.mark.parametrize("name", list(_columns()))
def test_payload_round_trip_keeps_bin_counts(name):
    """The store keeps only the payload: every reference value must survive it. The reference
    maximum equals the last inner edge, and bins are right-open, so it lands in the first
    outer bin; the payload keeps only the inner bins, and the maximum (for a discrete column:
    every value equal to it) is lost."""
    prof = NumericProfile.build(name, _columns()[name], fine_bins=100)
    back = _round_trip(prof)
    assert (
        int(back.counts.sum()) == int(prof.counts.sum()) == int(np.isfinite(_columns()[name]).sum())
    )
    np.testing.assert_array_equal(back.counts, prof.counts)


def test_a_reference_inside_its_own_range():
    """Every reference value lies inside the reference range (nothing out of range)."""
    prof = NumericProfile.build("discrete", _columns()["discrete"], fine_bins=100)
    assert int(prof.counts[prof.in_range].sum()) == int(prof.counts.sum())


def test_reference_profile_payload_round_trip():
    rows = read_reference_rows(DATA / "reference_rows.csv")
    profile = build(rows)
    payload = json.loads(json.dumps(profile.to_payload()))
    back = ReferenceProfile.from_payload("fraud", "*", payload, "test", 4)
    assert (back.model_id, back.model_version, back.rows, back.source, back.version) == (
        "fraud",
        "*",
        5,
        "test",
        4,
    )
    assert list(back.columns) == list(profile.columns)
    assert back.to_payload() == profile.to_payload()
    for name, p in profile.columns.items():
        q = back.columns[name]
        assert (q.kind, q.missing) == (p.kind, p.missing)
        if p.kind == "numeric":
            np.testing.assert_array_equal(q.bin_edges, p.bin_edges)
        else:
            assert q.vocab == p.vocab
            np.testing.assert_array_equal(q.counts, p.counts)
