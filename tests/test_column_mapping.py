"""Column mapping: a reference file whose header names the score, prediction, label, timestamp,
id and features its own way (``columns:``, ``features.*.source``, ``reference build`` flags)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from monitor.cli import main
from monitor.columns import inspect_columns, map_columns
from monitor.config import parse_config
from monitor.exceptions import ConfigError, ReferenceProfileError
from monitor.store import Store

N = 3000
CANONICAL = ["amount", "member", "score", "prediction", "label", "timestamp", "prediction_id"]
THEIRS = ["amt", "is_member", "y_pred_proba", "y_pred", "repaid", "ts", "id"]
MAPPED = {
    "columns": {
        "score": "y_pred_proba",
        "prediction": "y_pred",
        "label": "repaid",
        "timestamp": "ts",
        "prediction_id": "id",
    },
    "features": {
        "amount": {"kind": "numeric", "source": "amt"},
        "member": {"kind": "categorical", "source": "is_member"},
    },
}


def _rows() -> list[list[object]]:
    rng = np.random.default_rng(5)
    score = rng.random(N).round(4)
    return [
        [
            round(float(rng.lognormal(3, 1)), 2),
            bool(rng.random() < 0.3),
            s,
            int(s > 0.5),
            float(rng.random() < s),
            1_700_000_000_000 + i,
            f"p{i}",
        ]
        for i, s in enumerate(score)
    ]


def _csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    with path.open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(header)
        out.writerows(rows)  # bools as True/False, labels as 1.0/0.0: as pandas writes them
    return path


def _config(path: Path, model: dict, db: Path) -> Path:
    path.write_text(
        yaml.safe_dump({"database_url": f"sqlite:///{db}", "models": {"m": model}}, sort_keys=False)
    )
    return path


def _build(config: Path, file: Path, *flags: str):
    return CliRunner().invoke(
        main, ["reference", "build", "-c", str(config), "-m", "m", *flags, str(file)]
    )


def _payload(db: Path) -> dict:
    return Store(f"sqlite:///{db}").get_reference("m", "*").to_payload()


# -- the config -----------------------------------------------------------------------------------
def test_a_file_with_its_own_names_gives_the_reference_of_the_monitors_names(tmp_path):
    rows = _rows()
    plain = {"features": {k: {"kind": v["kind"]} for k, v in MAPPED["features"].items()}}
    ours = _build(
        _config(tmp_path / "a.yaml", plain, tmp_path / "a.db"),
        _csv(tmp_path / "a.csv", CANONICAL, rows),
    )
    theirs = _build(
        _config(tmp_path / "b.yaml", MAPPED, tmp_path / "b.db"),
        _csv(tmp_path / "b.csv", THEIRS, rows),
    )
    assert ours.exit_code == theirs.exit_code == 0, (ours.output, theirs.output)
    assert _payload(tmp_path / "a.db") == _payload(tmp_path / "b.db")
    assert set(_payload(tmp_path / "b.db")["columns"]) == {
        "amount",
        "member",
        "score",
        "prediction",
    }
    # the labels 1.0/0.0 are the class "1": the calibration is the data's (it said ECE 0.499)
    assert (
        "scores are calibrated on the reference's 3000 labeled rows" in theirs.stdout
        and not theirs.stderr
    )
    assert (
        "column kinds: amount numeric, member boolean, score numeric, prediction integer, "
        "label integer\n"
    ) in theirs.stdout


def test_flags_override_the_config(tmp_path):
    model = {**MAPPED, "columns": {**MAPPED["columns"], "label": "target", "score": "proba"}}
    config = _config(tmp_path / "c.yaml", model, tmp_path / "c.db")
    file = _csv(tmp_path / "b.csv", THEIRS, _rows())
    refused = _build(config, file)
    assert refused.exit_code == 1  # the file does not fit the config: a runtime error
    assert refused.stderr == (
        "error: columns.score: the file has no column 'proba' (it has: amt, id, is_member, "
        "repaid, ts, y_pred, y_pred_proba)\n"
    )
    built = _build(config, file, "--score-column", "y_pred_proba", "--label-column", "repaid")
    assert built.exit_code == 0, built.output
    assert "score" in _payload(tmp_path / "c.db")["columns"]
    plain = {"features": {k: {"kind": v["kind"]} for k, v in MAPPED["features"].items()}}
    flags = [
        "--feature-column",
        "amount=amt",
        "--feature-column",
        "member=is_member",
        "--score-column",
        "y_pred_proba",
        "--prediction-column",
        "y_pred",
        "--label-column",
        "repaid",
    ]
    by_flags = _build(_config(tmp_path / "d.yaml", plain, tmp_path / "d.db"), file, *flags)
    assert by_flags.exit_code == 0, by_flags.output
    assert _payload(tmp_path / "d.db") == _payload(tmp_path / "c.db")


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--feature-column", "amount"], "--feature-column"),
        (
            ["--feature-column", "nope=amt"],
            "error: --feature-column: unknown feature 'nope'; configured: ['amount', 'member']",
        ),
        (
            ["--label-column", "amt"],
            (
                "error: features.amount.source: column 'amt' is also columns.label; each "
                "column is read once"
            ),
        ),
    ],
)
def test_bad_flags_name_themselves(tmp_path, flags, message):
    result = _build(
        _config(tmp_path / "c.yaml", MAPPED, tmp_path / "c.db"),
        _csv(tmp_path / "b.csv", THEIRS, _rows()),
        *flags,
    )
    # a flag's own mistake is a usage error; a clash it makes with the config is the config's
    assert result.exit_code == (2 if "--" in message else 1) and message in result.stderr


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (
            {
                "features": {
                    "a": {"kind": "numeric", "source": "x"},
                    "b": {"kind": "numeric", "source": "x"},
                }
            },
            (
                "models.m.features.b.source: column 'x' is also features.a.source; each column "
                "is read once"
            ),
        ),
        (
            {"features": {"a": {"kind": "numeric"}}, "columns": {"label": "a"}},
            "models.m.features.a: column 'a' is also columns.label; each column is read once",
        ),
        (
            {"features": {"a": {"kind": "numeric", "source": ""}}},
            "models.m.features.a.source: String should have at least 1 character",
        ),
        (
            {"features": {"a": {"kind": "numeric"}}, "columns": {"target": "y"}},
            (
                "models.m.columns.target: unknown key 'target'; known keys: label, prediction, "
                "prediction_id, score, timestamp"
            ),
        ),
        (
            {"features": {"a": {"kind": "numeric"}}, "columns": {"score": "s" * 201}},
            "models.m.columns.score: String should have at most 200 characters",
        ),
        (
            {"features": {"a": {"kind": "numeric"}}, "labels": {"positive_class": None}},
            "models.m.labels.positive_class: a class must be",
        ),
    ],
)
def test_the_config_names_the_key_of_a_bad_mapping(model, message):
    with pytest.raises(ConfigError) as err:
        parse_config({"models": {"m": model}})
    assert str(err.value).startswith(message)


@pytest.mark.parametrize(
    ("given", "spelled"), [(1, "1"), (1.0, "1"), ("1.0", "1"), (True, "true"), ("yes", "yes")]
)
def test_classes_in_the_config_are_spelled_as_events_are(given, spelled):
    cfg = parse_config(
        {
            "models": {
                "m": {
                    "features": {"a": {"kind": "numeric"}},
                    "labels": {"positive_class": given, "classes": [0, given]},
                }
            }
        }
    )
    assert cfg.models["m"].labels.positive_class == spelled and cfg.models["m"].labels.classes == (
        "0",
        spelled,
    )


def test_a_mapped_column_is_also_found_under_its_own_name():
    """A JSONL reference of events carries the monitor's names whatever the mapping."""
    cfg = parse_config({"models": {"m": MAPPED}}).models["m"]
    rows = {
        "amount": [1.0],
        "member": [True],
        "score": [0.5],
        "label": [1],
        "y_pred": [1],
        "timestamp": [5],
        "prediction_id": ["a"],
    }
    expected = {k: v for k, v in rows.items() if k != "y_pred"} | {"prediction": [1]}
    assert map_columns(rows, cfg) == expected
    del rows["amount"]
    with pytest.raises(
        ReferenceProfileError,
        match=r"^features.amount.source: the file has no column 'amt' \(it has: label, member, ",
    ):
        map_columns(rows, cfg)


# -- kinds and warnings
# ------------------------------------------------------------------------------
def test_reference_build_shows_each_columns_kind_and_warns_of_disagreements(tmp_path):
    model = {
        "features": {
            "amount": {"kind": "numeric"},
            "member": {"kind": "numeric"},
            "region": {"kind": "categorical"},
            "code": {"kind": "categorical"},
        }
    }
    rng = np.random.default_rng(2)
    rows = [
        [
            round(float(rng.normal()), 3),
            bool(rng.random() < 0.5),
            str(rng.choice(["eu", "us"])),
            i + 0.5,
            round(float(rng.random()), 4),
            bool(rng.random() < 0.5),
            bool(rng.random() < 0.5),
        ]
        for i in range(500)
    ]
    file = _csv(
        tmp_path / "r.csv",
        ["amount", "member", "region", "code", "score", "prediction", "label"],
        rows,
    )
    result = _build(_config(tmp_path / "k.yaml", model, tmp_path / "k.db"), file)
    assert result.exit_code == 0, result.output
    assert (
        "column kinds: amount numeric, member boolean (configured numeric), region "
        "categorical, code numeric, "
        "score numeric, prediction boolean, label boolean\n" in result.stdout
    )
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    assert warnings[:3] == [  # then the calibration warning that follows from the third
        (
            "warning: member is configured numeric but its reference values are booleans: "
            "they count as 1 "
            "and 0; configure it categorical to compare true and false as categories"
        ),
        (
            "warning: code is configured categorical but its reference values are 500 "
            "distinct numbers: each "
            "one is a category; configure it numeric to bin them"
        ),
        (
            "warning: labels.positive_class '1' is not among the reference's labels "
            "['false', 'true']: no "
            "label counts as positive; set labels.positive_class"
        ),
    ]


def test_predictions_and_labels_without_a_class_in_common_are_warned_of():
    cfg = parse_config(
        {
            "models": {
                "m": {"features": {"a": {"kind": "numeric"}}, "labels": {"positive_class": "yes"}}
            }
        }
    ).models["m"]
    _, warnings = inspect_columns(
        {"a": [1.0, 2.0], "prediction": [0, 1], "label": ["yes", "no"]}, cfg
    )
    assert warnings == [
        (
            "the reference's predictions ['0', '1'] and labels ['no', 'yes'] have no class in "
            "common: no prediction can be right"
        )
    ]
    same = parse_config({"models": {"m": {"features": {"a": {"kind": "numeric"}}}}}).models["m"]
    _, agree = inspect_columns(
        {"a": [1.0, 2.0], "prediction": ["1.0", "0"], "label": [1, 0.0]}, same
    )
    assert agree == []
