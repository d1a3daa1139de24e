"""monitor.Query on rows a real replay wrote (SQLite and PostgreSQL): drift windows, performance
and alerts as records and DataFrames, their filters, and hostile names (long, unicode, quotes)
round-tripping; each record checked against the CLI's JSON of the same rows."""

from __future__ import annotations

import datetime as dt
import json
import random
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import monitor
from monitor.cli import main
from monitor.limits import MAX_ID_CHARS
from monitor.query import PANDAS_MISSING

MODEL = "modèle «fraude» 🚀"
VERSION = ("v1-日本語-'\"<b>&-🚀" * 20)[:MAX_ID_CHARS]  # as long as an id may be
NUM = "größe €'<script>&"  # a '"' is refused by the decoder (see the report)
CAT = "farbe_цвет"
SEGMENT_KEY = "région"
SEGMENTS = ("東京", "s" * 150 + "🚀")
T0 = 1_700_000_040_000  # a minute boundary
MINUTE = 60_000


def _config(db_url: str) -> dict:
    return {
        "database_url": db_url,
        "models": {
            MODEL: {
                "window": "1m",
                "min_events": 10,
                "reference": {"baseline_events": 0},
                "prediction": "categorical",
                "score": True,
                "features": {NUM: {"kind": "numeric"}, CAT: {"kind": "categorical"}},
                "segments": {"keys": [SEGMENT_KEY], "min_reference_rows": 50},
                "topics": {"labels": "labels"},
                "labels": {"horizon": "2m"},
                "rules": [
                    {
                        "name": "drift.size",
                        "kind": "feature_drift",
                        "statistic": "psi",
                        "warning": 0.1,
                        "critical": 0.25,
                    }
                ],
            }
        },
    }


def _event(rng: random.Random, i: int, ts: int, shift: float) -> dict:
    score = rng.random()
    return {
        "model_id": MODEL,
        "model_version": VERSION,
        "prediction_id": f"p-{i}-ü",
        "timestamp": ts,
        "features": {NUM: rng.gauss(shift, 1), CAT: rng.choice(["rot", "grün", "blau"])},
        "prediction": int(score > 0.5),
        "score": score,
        "segments": {SEGMENT_KEY: SEGMENTS[i % 2]},
    }


@pytest.fixture
def replayed(tmp_path: Path, db_url: str) -> tuple[Path, monitor.Store]:
    """Four minutes of events (the numeric feature shifted in the last two), their labels, and
    five events for the first minute after it closed (late), replayed into a fresh store."""
    rng = random.Random(11)
    cfg_path = tmp_path / "monitor.yaml"
    cfg_path.write_text(json.dumps(_config(db_url), ensure_ascii=False))
    config = monitor.load_config(cfg_path)
    store = monitor.Store(config.database_url)
    store.upgrade()
    reference = [_event(rng, i, T0, 0.0) for i in range(2000)]
    rows = {
        NUM: [e["features"][NUM] for e in reference],
        CAT: [e["features"][CAT] for e in reference],
        "prediction": [e["prediction"] for e in reference],
        "score": [e["score"] for e in reference],
        SEGMENT_KEY: [e["segments"][SEGMENT_KEY] for e in reference],
    }
    store.save_reference(monitor.ReferenceProfile.for_model(MODEL, "*", config.models[MODEL], rows))
    events = [_event(rng, i, T0 + 250 * i, 0.0 if i < 480 else 2.0) for i in range(960)]
    events += [_event(rng, 1000 + i, T0 + 10 + i, 0.0) for i in range(5)]  # late
    labels = [
        {"model_id": MODEL, "prediction_id": e["prediction_id"], "label": int(rng.random() < 0.5),
         "timestamp": e["timestamp"] + 1000}
        for e in events[:960:2]
    ]  # fmt: skip
    for name, lines in (("events.jsonl", events), ("labels.jsonl", labels)):
        (tmp_path / name).write_text("".join(json.dumps(x) + "\n" for x in lines))
    report = monitor.replay_files(
        config, store, [tmp_path / "events.jsonl"], labels=[tmp_path / "labels.jsonl"]
    )
    assert report.late[MODEL] == 5
    return cfg_path, store


def _cli_windows(cfg_path: Path, *args: str) -> list[dict]:
    result = CliRunner().invoke(
        main, ["windows", "-c", str(cfg_path), "-m", MODEL, "--format", "json", *args]
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def _iso(t: dt.datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def test_windows_are_the_cli_rows_typed_with_their_verdict_and_late_counts(replayed):
    cfg_path, store = replayed
    q = monitor.Query(store)
    windows = q.windows(MODEL)
    cli = _cli_windows(cfg_path)
    assert len(windows) == len(cli) == 4 * 4  # 4 windows x (2 features, prediction, score)
    for w, c in zip(windows, cli, strict=True):
        assert isinstance(w, monitor.DriftWindow)
        assert (w.model_id, w.model_version, w.feature) == (MODEL, VERSION, c["feature"])
        assert (_iso(w.window_start), _iso(w.window_end)) == (c["window_start"], c["window_end"])
        assert (w.events, w.missing, w.late, w.severity) == (
            c["count"],
            c["missing"],
            c["late"],
            c["severity"],
        )
        assert dict(w.statistics) == c["statistics"]
        decided = c["decided_by"]
        assert (w.statistic, w.value, w.threshold) == (
            decided["statistic"],
            decided["value"],
            decided["threshold"],
        )
    assert [w.late for w in windows if w.feature == NUM] == [5, 0, 0, 0]
    assert [w.severity for w in windows if w.feature == NUM][2:] == ["critical", "critical"]
    assert windows[-1].window_start.tzinfo is dt.UTC


def test_window_filters(replayed):
    cfg_path, store = replayed
    q = monitor.Query(store)
    assert {w.feature for w in q.windows(MODEL, feature=NUM)} == {NUM}
    assert q.windows(MODEL, version="other") == monitor.Records(monitor.DriftWindow, [])
    since, until = T0 + MINUTE, T0 + 3 * MINUTE  # the second and third windows
    picked = q.windows(MODEL, feature=NUM, since=since, until=until)
    starts = [w.window_start for w in picked]
    assert starts == [dt.datetime.fromtimestamp(t / 1000, dt.UTC) for t in (since, since + MINUTE)]
    naive = dt.datetime.fromtimestamp(since / 1000, dt.UTC).replace(tzinfo=None)
    assert q.windows(MODEL, feature=NUM, since=naive, until=until) == picked
    segment = f"{SEGMENT_KEY}={SEGMENTS[1]}"
    one = q.windows(MODEL, feature=NUM, segment=segment)
    cli = _cli_windows(cfg_path, "-f", NUM, "--segment", segment)
    assert [w.segment for w in one] == [c["segment"] for c in cli] == [segment] * 4
    assert [w.late for w in one] == [None] * 4  # late events are not told apart by segment
    every = q.windows(MODEL, feature=NUM, segment=None)
    assert {w.segment for w in every} == {None, *(f"{SEGMENT_KEY}={s}" for s in SEGMENTS)}
    with pytest.raises(TypeError, match="datetime or epoch milliseconds"):
        q.windows(MODEL, since="2h")  # type: ignore[arg-type]


def test_performance_realized_estimated_and_coverage(replayed):
    cfg_path, store = replayed
    q = monitor.Query(store)
    perf = q.performance(MODEL)
    result = CliRunner().invoke(
        main, ["performance", "-c", str(cfg_path), "-m", MODEL, "--format", "json"]
    )
    cli = json.loads(result.output)
    assert len(perf) == len(cli) == 4
    for p, c in zip(perf, cli, strict=True):
        assert (p.model_version, _iso(p.window_start)) == (VERSION, c["window_start"])
        assert (p.predictions, p.labeled, p.coverage) == (
            c["predictions"],
            c["labeled"],
            c["coverage"],
        )
        assert p.coverage == p.labeled / p.predictions
        assert dict(p.realized) == c["metrics"] and p.realized["accuracy"] is not None
        assert dict(p.estimated) == (c["estimated"] or {})
    # the late predictions, dropped from drift, still join their labels' window
    assert [(p.predictions, p.labeled) for p in perf] == [(245, 120), *[(240, 120)] * 3]
    assert len(q.performance(MODEL, since=T0 + 3 * MINUTE)) == 1
    assert len(q.performance(MODEL, version="other")) == 0


def test_alerts_and_their_history(replayed):
    _, store = replayed
    q = monitor.Query(store)
    firing = q.alerts(MODEL)
    assert [(a.rule, a.model_version, a.feature, a.state, a.severity) for a in firing] == [
        ("drift.size", VERSION, NUM, "firing", "critical")
    ]
    assert firing[0].since == dt.datetime.fromtimestamp((T0 + 3 * MINUTE) / 1000, dt.UTC)
    assert q.alerts(MODEL, feature=CAT) == monitor.Records(monitor.Alert, [])
    assert len(q.alerts(MODEL, states=None)) >= len(firing)
    history = q.alert_history(MODEL, feature=NUM)
    assert [(h.to_state, h.severity) for h in history][-1] == ("firing", "critical")
    assert all(
        h.value is not None and h.threshold == 0.25 for h in history if h.to_state == "firing"
    )
    assert q.alert_history(MODEL, until=T0 + 2 * MINUTE) == monitor.Records(
        monitor.AlertTransition, []
    )
    assert q.alert_history("another model") == monitor.Records(monitor.AlertTransition, [])


def test_frames_keep_every_record_and_the_hostile_names(replayed):
    _, store = replayed
    q = monitor.Query(store)
    windows = q.windows(MODEL, segment=None)
    frame = windows.to_frame()
    assert len(frame) == len(windows)
    assert set(frame["model_id"]) == {MODEL} and set(frame["model_version"]) == {VERSION}
    assert set(frame["feature"]) == {NUM, CAT, "prediction", "score"}
    assert set(frame["segment"].dropna()) == {f"{SEGMENT_KEY}={s}" for s in SEGMENTS}
    assert str(frame["window_start"].dt.tz) == "UTC"  # a datetime column, not objects
    num = frame[(frame["feature"] == NUM) & frame["segment"].isna()]
    assert list(num["statistics_psi"]) == [
        w.statistics["psi"] for w in q.windows(MODEL, feature=NUM)
    ]
    perf = q.performance(MODEL).to_frame()
    assert list(perf["coverage"]) == [p.coverage for p in q.performance(MODEL)]
    assert {"realized_accuracy", "realized_roc_auc", "estimated_accuracy"} <= set(perf.columns)
    alerts = q.alert_history(MODEL).to_frame()
    assert set(alerts["rule"]) == {"drift.size"} and set(alerts["feature"]) == {NUM}
    empty = q.windows(MODEL, version="other").to_frame()
    assert empty.empty and "severity" in empty.columns


def test_from_config_and_a_url_own_their_connections(replayed):
    cfg_path, store = replayed
    with monitor.Query.from_config(cfg_path) as q:
        assert q.windows(MODEL) == monitor.Query(store).windows(MODEL)


def test_without_pandas_the_frame_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)  # what `import pandas` meets when missing
    with pytest.raises(ImportError, match=r"pip install 'monitor\[pandas\]'") as info:
        monitor.Records(monitor.Alert, []).to_frame()
    assert str(info.value) == PANDAS_MISSING
