"""Delayed labels: the join (late, early, duplicate, never), performance per window against
scikit-learn on the same labeled pairs, estimation, concept drift, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score

from monitor.cli import main
from monitor.config import parse_config
from monitor.engine import Engine
from monitor.events import EventDecoder, LabelDecoder
from monitor.join import LabelJoin
from monitor.layout import Layout
from monitor.limits import MAX_ID_CHARS
from monitor.pipeline.files import replay
from monitor.reference import ReferenceProfile
from monitor.store import Store
from monitor.store.performance import PerformanceRepository
from monitor.synth import generate, labels_to_jsonl, reference_rows, to_jsonl
from tests.helpers import rows_of, small_spec

SPEC = small_spec(n_numeric=3, seed=9)
N = 30_000  # 50 minutes at 10 events/s


def _config(db_url: str, **labels):
    features = {f.name: {"kind": f.kind} for f in SPEC.features}
    return parse_config(
        {
            "database_url": db_url,
            "models": {
                "demo": {
                    "window": "10m",
                    "features": features,
                    "reference": {"baseline_events": 0},
                    "topics": {"labels": "labels"},
                    "labels": {"horizon": "20m", **labels},
                }
            },
        }
    )


def _store(cfg) -> Store:
    store = Store(cfg.database_url)
    store.upgrade()
    model = cfg.models["demo"]
    store.save_reference(
        ReferenceProfile.build(
            "demo", "*", Layout.from_model(model), rows_of(reference_rows(SPEC, 20_000)), 200
        )
    )
    return store


def _files(tmp_path, spec=SPEC, keep=1.0):
    cols = generate(spec, N)
    events = tmp_path / "predictions.jsonl"
    events.write_bytes(to_jsonl(spec, cols))
    lines = labels_to_jsonl(spec, cols).splitlines(keepends=True)
    kept = [line for i, line in enumerate(lines) if (i * 7919) % 1000 < keep * 1000]
    labels = tmp_path / "labels.jsonl"
    labels.write_bytes(b"".join(kept))
    return cols, events, labels


def test_replay_with_labels_gives_sklearn_metrics_per_window(tmp_path, db_url):
    cfg = _config(db_url)
    store = _store(cfg)
    cols, events, labels = _files(tmp_path, keep=0.8)
    report = replay(cfg, store, [events], labels=[labels])
    assert report.labels == sum(1 for _ in labels.open("rb"))
    rows = PerformanceRepository(store).windows("demo")
    assert len(rows) == 5
    labeled = {json.loads(line)["prediction_id"] for line in labels.read_bytes().splitlines()}
    for row in rows:
        inside = (cols.timestamp >= row["window_start"]) & (cols.timestamp < row["window_end"])
        mask = inside & np.isin(cols.prediction_id, list(labeled))
        y, p, s = cols.label[mask], cols.prediction[mask], cols.score[mask]
        m = row["metrics"]
        assert row["predictions"] == inside.sum() and row["labeled"] == mask.sum()
        assert m["accuracy"] == pytest.approx(accuracy_score(y, p), abs=1e-9)
        assert m["precision"] == pytest.approx(precision_score(y, p, zero_division=0), abs=1e-9)
        assert m["recall"] == pytest.approx(recall_score(y, p, zero_division=0), abs=1e-9)
        assert m["f1"] == pytest.approx(f1_score(y, p, zero_division=0), abs=1e-9)
        assert abs(m["roc_auc"] - roc_auc_score(y, s)) <= m["roc_auc_error_bound"] + 1e-12
        assert m["coverage"] == pytest.approx(mask.sum() / inside.sum())
        # Calibrated scores: the estimate from scores alone is close to the realized figure.
        assert abs(row["estimated"]["accuracy"] - m["accuracy"]) < 0.03
        assert row["estimated"]["error"]["accuracy"] == pytest.approx(
            row["estimated"]["accuracy"] - m["accuracy"]
        )
        assert row["label_delay"]["p50"] is not None
        assert m["calibration"]["calibrated"]  # the synthetic scores are calibrated
    # A window is final once the watermark (the last event time) passed its end + the horizon.
    cutoff = int(cols.timestamp.max()) - 20 * 60_000
    assert [r["final"] for r in rows] == [r["window_end"] <= cutoff for r in rows]
    assert sum(r["final"] for r in rows) == 2


def _engine(tmp_path):
    cfg = _config(f"sqlite:///{tmp_path / 'j.db'}")
    store = _store(cfg)
    return cfg, Engine(cfg, store), EventDecoder(cfg), LabelDecoder(cfg)


def _label(pid: str, label, ts: int) -> bytes:
    return json.dumps(
        {"model_id": "demo", "prediction_id": pid, "label": label, "timestamp": ts}
    ).encode()


def test_early_duplicate_and_unknown_labels(tmp_path):
    _cfg, engine, events, labels = _engine(tmp_path)
    cols = generate(SPEC, 100)
    t = int(cols.timestamp[0])
    # p0's label arrives before its prediction; p1 is labeled twice (last one wins).
    early = labels.decode_values([_label("p0", int(cols.label[0]), t)])
    assert engine.process_labels("labels:0", early) == []
    engine.process("predictions:0", events.decode_lines(to_jsonl(SPEC, cols)))
    wrong = 1 - int(cols.label[1])
    refused = engine.process_labels(
        "labels:0",
        labels.decode_values(
            [
                _label("p1", wrong, t),
                _label("p1", int(cols.label[1]), t + 1),
                _label("p2", "maybe", t),
            ]
        ),
    )
    assert [r.reason for r in refused] == ["unknown_class"]
    (pane,) = engine.join.panes.values()
    assert engine.join.pending["demo"] == 98  # 100 predictions, two of them labeled
    m = pane.realized.metrics()
    assert pane.labeled == 2 and pane.predictions == 100
    assert m["accuracy"] == accuracy_score(cols.label[:2], cols.prediction[:2])


def test_labels_joined_in_bulk_leave_the_state_one_by_one_leaves(tmp_path, monkeypatch):
    """A batch of labels that all meet their predictions is joined in bulk (LabelJoin's
    ``_join_plain``): the same records, changes to write, pending counts, panes and errors as
    joined one label at a time, through first labels, labels replacing them, and a drain
    between (records stored by then are only relabeled)."""
    cols = generate(SPEC, 400)
    t = cols.timestamp.tolist()
    rounds = [
        [_label(f"p{i}", int(cols.label[i]), t[i] + 5) for i in range(300)],
        [_label(f"p{i}", 1 - int(cols.label[i]), t[i] + 9) for i in range(200, 400)],
    ]
    states = []
    for bulk in (True, False):
        if not bulk:
            monkeypatch.setattr(LabelJoin, "_plain", lambda *args: False)
        (tmp_path / str(bulk)).mkdir()
        _cfg, engine, events, labels = _engine(tmp_path / str(bulk))
        engine.process("predictions:0", events.decode_lines(to_jsonl(SPEC, cols)))
        join, drained = engine.join, []
        for lines in rounds:
            assert engine.process_labels("labels:0", labels.decode_values(lines)) == []
            drained.append((join._dirty_records.copy(), join._relabeled.copy()))
            delta = join.drain()
            drained.append((delta.panes, delta.touched))
        states.append((join.records, drained, dict(join.pending), join.recent))
    assert states[0] == states[1]
    assert states[0][0][("0", "p250")][6] == str(1 - int(cols.label[250]))


def test_labels_for_a_model_without_labels_and_wrong_types_are_refused(tmp_path):
    cfg = parse_config(
        {
            "models": {
                "reg": {
                    "features": {"x": {"kind": "numeric"}},
                    "prediction": "numeric",
                    "topics": {"labels": None},
                }
            }
        }
    )
    decoded = LabelDecoder(cfg).decode_values(
        [
            b'{"model_id":"reg","prediction_id":"a","label":"high","timestamp":1}',
            b'{"model_id":"reg","prediction_id":"b","label":2.5,"timestamp":1}',
            b'{"model_id":"nope","prediction_id":"c","label":1,"timestamp":1}',
        ]
    )
    assert [e.reason for e in decoded.errors] == ["wrong_type", "unknown_model"]
    engine = Engine(cfg, Store("sqlite://"))
    assert [r.reason for r in engine.process_labels("labels:0", decoded)] == ["labels_not_expected"]


def test_concept_drift_is_detected_and_persisted(tmp_path, sqlite_url):
    cfg = _config(sqlite_url)
    store = _store(cfg)
    _cols, events, labels = _files(tmp_path)
    # From the middle on the model is wrong half the time: flip the labels of every other event.
    lines = labels.read_bytes().splitlines()
    flipped = [
        json.dumps({**json.loads(line), "label": 1 - json.loads(line)["label"]}).encode()
        if i >= N // 2 and i % 2
        else line
        for i, line in enumerate(lines)
    ]
    labels.write_bytes(b"\n".join(flipped) + b"\n")
    replay(cfg, store, [events], labels=[labels])
    drifts = PerformanceRepository(store).concept_drift("demo")
    assert drifts and all(d["method"] == "adwin" for d in drifts)
    assert min(d["position"] for d in drifts) >= N // 2  # nothing before the change


def test_performance_cli(tmp_path, sqlite_url, monkeypatch):
    cfg_path = tmp_path / "monitor.yaml"
    features = {f.name: {"kind": f.kind} for f in SPEC.features}
    cfg_path.write_text(
        json.dumps(
            {
                "database_url": sqlite_url,
                "models": {
                    "demo": {
                        "window": "10m",
                        "features": features,
                        "reference": {"baseline_events": 0},
                    }
                },
            }
        )
    )
    _cols, events, labels = _files(tmp_path, keep=0.5)
    ref = tmp_path / "reference.jsonl"
    ref.write_bytes(to_jsonl(SPEC, reference_rows(SPEC, 10_000)))
    runner = CliRunner()
    assert (
        runner.invoke(
            main, ["reference", "build", "-c", str(cfg_path), "-m", "demo", str(ref)]
        ).exit_code
        == 0
    )
    result = runner.invoke(
        main, ["replay", "-c", str(cfg_path), "--no-progress", "--labels", str(labels), str(events)]
    )
    assert result.exit_code == 0, result.output
    assert "labels joined" in result.output
    out = runner.invoke(
        main, ["performance", "-c", str(cfg_path), "-m", "demo", "--format", "json"]
    )
    rows = json.loads(out.output)
    assert (
        rows
        and {
            "model_id",
            "model_version",
            "window_start",
            "window_end",
            "predictions",
            "labeled",
            "metrics",
            "estimated",
            "final",
        }
        <= rows[0].keys()
    )
    assert {"accuracy", "f1", "roc_auc"} <= rows[0]["metrics"].keys()
    table = runner.invoke(main, ["performance", "-c", str(cfg_path), "-m", "demo"])
    assert "accuracy" in table.output and table.exit_code == 0


def test_reference_build_warns_when_the_reference_scores_are_not_calibrated(tmp_path, sqlite_url):
    """Estimation assumes calibrated scores: a reference with labels tells whether they are."""
    import csv

    from monitor.performance import calibration_report
    from monitor.performance.classification import ReliabilityTable

    cfg_path = tmp_path / "monitor.yaml"
    features = {f.name: {"kind": f.kind} for f in SPEC.features}
    cfg_path.write_text(
        json.dumps({"database_url": sqlite_url, "models": {"demo": {"features": features}}})
    )
    ref = reference_rows(SPEC, 20_000)
    rows = rows_of(ref)
    runner = CliRunner()
    for name, scores in (
        ("calibrated", ref.score),
        ("overconfident", np.where(ref.score > 0.5, 1 - (1 - ref.score) ** 3, ref.score**3)),
    ):
        path = tmp_path / f"{name}.csv"
        with path.open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow([*rows, "label"])
            writer.writerows(zip(*(rows[k] if k != "score" else scores for k in rows), ref.label))
        result = runner.invoke(
            main, ["reference", "build", "-c", str(cfg_path), "-m", "demo", str(path)]
        )
        assert result.exit_code == 0, result.output
        expected = calibration_report(ReliabilityTable.of(scores, ref.label == 1))
        if name == "calibrated":
            assert (
                expected["calibrated"]
                and "scores are calibrated on the reference's 20000 labeled rows" in result.stdout
            )
            assert "warning" not in result.stderr
        else:
            assert not expected["calibrated"]
            assert (
                "warning: the reference's scores are not calibrated (expected calibration "
                f"error {expected['ece']:.3f} > 0.05"
            ) in result.stderr


def test_a_failed_checkpoints_delta_merged_into_the_next_writes_unstored_records_whole():
    """A record first written by a checkpoint that failed and labeled since is written whole
    (it was never stored); one stored and relabeled twice keeps only its last label."""
    from monitor.join import JoinDelta

    first = JoinDelta(
        records={("0", "a"): ("m", "1", 10, "1", 0.9, None, None, None)},
        relabeled={("0", "b"): ("m", "1", 11, "0", 0.2, None, "0", 50)},
    )
    newer = JoinDelta(
        relabeled={
            ("0", "a"): ("m", "1", 10, "1", 0.9, None, "1", 60),
            ("0", "b"): ("m", "1", 11, "0", 0.2, None, "1", 70),
        }
    )
    merged = first.then(newer)
    assert merged.records == {("0", "a"): ("m", "1", 10, "1", 0.9, None, "1", 60)}
    assert merged.relabeled == {("0", "b"): ("m", "1", 11, "0", 0.2, None, "1", 70)}
    rewritten = JoinDelta(relabeled={("0", "c"): ("m", "1", 12, "0", 0.1, None, "0", 80)}).then(
        JoinDelta(records={("0", "c"): ("m", "1", 12, "0", 0.1, None, "1", 90)})
    )
    assert (
        rewritten.records == {("0", "c"): ("m", "1", 12, "0", 0.1, None, "1", 90)}
        and rewritten.relabeled == {}
    )


def test_relabeled_records_missing_from_sql_are_written_whole(store):
    """The label-only update finds no row for a record (expired meanwhile): written whole."""
    from monitor.join import JoinDelta

    cfg = _config(store.url)
    repo = PerformanceRepository(store)
    stored = ("m", "1", 10, "1", 0.9, {"region": "eu"}, None, None)
    with store.engine.begin() as conn:
        repo.write(conn, "job", JoinDelta(records={("0", "a"): stored}), cfg, None, lambda *a: {})
    labeled = {
        ("0", "a"): (*stored[:6], "1", 60),
        ("0", "gone"): ("m", "1", 11, "0", 0.2, None, "0", 70),
    }
    with store.engine.begin() as conn:
        repo.write(conn, "job", JoinDelta(relabeled=labeled), cfg, None, lambda *a: {})
    assert repo.lookup("job", "0", ["a", "gone"]) == {
        "a": ("m", "1", 10, "1", 0.9, {"region": "eu"}, "1", 60),
        "gone": ("m", "1", 11, "0", 0.2, None, "0", 70),
    }


#: ids and values COPY's formats and SQL quoting treat specially, and the longest id allowed
HOSTILE = [
    'tab\tnew\nline\rcr, "quoted" \\back',
    "\\N",
    "",
    "ünï ☃ 漢字 🙂",
    "é" * MAX_ID_CHARS,
]


def test_hostile_ids_and_values_round_trip_through_the_bulk_writes(store):
    """Records whose ids, predictions, labels and segments are hostile strings come back from a
    lookup as written: whole (staged, then upserted), label-only (staged, then updated), and the
    two in one transaction with a relabeled record gone from SQL (staged twice)."""
    from monitor.join import JoinDelta

    cfg = _config(store.url)
    repo = PerformanceRepository(store)
    first = {
        ("0", pid): (
            "m",
            "1",
            10 + i,
            pid,
            i / 3 if i else None,  # a float of every digit
            {pid: pid} if i else None,
            None,
            None,
        )
        for i, pid in enumerate(HOSTILE)
    }
    with store.engine.begin() as conn:
        repo.write(conn, "job", JoinDelta(records=first), cfg, None, lambda *a: {})
    assert repo.lookup("job", "0", HOSTILE) == {pid: r for (_, pid), r in first.items()}
    relabeled = {k: (*r[:6], k[1], 60) for k, r in first.items()}
    relabeled[("0", "gone " + HOSTILE[0])] = ("m", "1", 9, "", None, None, HOSTILE[0], 70)
    new = {("0", "new " + HOSTILE[3]): ("m", None, None, None, None, None, HOSTILE[3], 80)}
    with store.engine.begin() as conn:
        repo.write(
            conn, "job", JoinDelta(records=new, relabeled=relabeled), cfg, None, lambda *a: {}
        )
    ids = [pid for _, pid in [*relabeled, *new]]
    assert repo.lookup("job", "0", ids) == {pid: r for (_, pid), r in {**relabeled, **new}.items()}
