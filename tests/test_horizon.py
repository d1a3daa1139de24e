"""The label horizon: a label past its prediction's time + ``labels.horizon`` is counted
(``labels_after_horizon``), not joined, whether the prediction's record is in memory or in SQL,
whether the label or the prediction comes first; memory drops the records SQL drops; a window is
final once the watermark passed its end + the horizon, and stays as it is from then on."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from sklearn.metrics import accuracy_score

from monitor.config import parse_config
from monitor.engine import Engine
from monitor.events import EventDecoder, LabelDecoder
from monitor.layout import Layout
from monitor.pipeline.checkpoint import Checkpointer
from monitor.reference import ReferenceProfile
from monitor.store import Store, schema
from monitor.store.performance import PerformanceRepository
from monitor.synth import generate, reference_rows, to_jsonl
from tests.helpers import rows_of, small_spec

DAY = 86_400_000
HORIZON = 30 * DAY
N = 3000  # predictions on day 0, every 20 s: more than max_pending=1000, so most go to SQL
SPEC = small_spec(n_numeric=2, seed=12, interval_ms=20_000)
JOB = "horizon"


class Run:
    """An engine, its store and a checkpointer, fed by hand (checkpoints where the test says)."""

    def __init__(self, db_url: str, max_pending: int) -> None:
        features = {f.name: {"kind": f.kind} for f in SPEC.features}
        model = {
            "window": "1d",
            "features": features,
            "reference": {"baseline_events": 0},
            "topics": {"labels": "labels"},
            "labels": {"horizon": "30d", "max_pending": max_pending},
        }
        self.cfg = parse_config({"database_url": db_url, "models": {"demo": model}})
        self.store = Store(db_url)
        self.store.upgrade()
        layout = Layout.from_model(self.cfg.models["demo"])
        reference = ReferenceProfile.build(
            "demo", "*", layout, rows_of(reference_rows(SPEC, 5000)), 50
        )
        self.store.save_reference(reference)
        self.engine = Engine(self.cfg, self.store)
        self.checkpointer = Checkpointer(self.engine, self.store, JOB, wait_for_operator=False)
        repo = self.checkpointer.performance
        self.engine.join.lookup = lambda key, ids: repo.lookup(JOB, key, ids)
        self.events, self.labels = EventDecoder(self.cfg), LabelDecoder(self.cfg)

    def predict(self, cols) -> None:
        self.engine.process("predictions:0", self.events.decode_lines(to_jsonl(SPEC, cols)))

    def label(self, cols, delays: np.ndarray) -> None:
        lines = [
            json.dumps(
                {"model_id": "demo", "prediction_id": pid, "label": int(y), "timestamp": int(t + d)}
            ).encode()
            for pid, y, t, d in zip(cols.prediction_id.tolist(), cols.label, cols.timestamp, delays)
        ]
        assert self.engine.process_labels("labels:0", self.labels.decode_values(lines)) == []

    def commit(self) -> None:
        assert self.checkpointer.commit()

    def rows(self) -> list[dict]:
        rows = PerformanceRepository(self.store).windows("demo")
        return [{k: v for k, v in r.items() if k not in ("updated_at", "id")} for r in rows]


def _day0():
    return generate(SPEC, N)


def _later(day: int, n: int = 10):
    """Predictions on ``day`` after day 0 that move the watermark."""
    cols = generate(SPEC, n, offset=N * day)
    return replace(
        cols, timestamp=cols.timestamp - cols.timestamp[0] + _day0().timestamp[0] + day * DAY
    )


def _delays() -> np.ndarray:
    """Half the labels 29 days after their prediction, a few exactly at the horizon, the rest
    35 days after."""
    delays = np.where(np.arange(N) % 2 == 0, 29 * DAY, 35 * DAY)
    delays[:10] = HORIZON
    return delays


@pytest.mark.parametrize("max_pending", [1_000_000, 1000], ids=["memory", "sql"])
def test_a_label_past_the_horizon_is_counted_not_joined(db_url, max_pending):
    """The labels come while their predictions' records are held (the label stream ahead of the
    predictions' watermark): in memory, or (max_pending 1000) mostly looked up in SQL."""
    run = Run(db_url, max_pending)
    cols, delays = _day0(), _delays()
    run.predict(cols)
    run.commit()  # the records are in SQL; with max_pending 1000, 2000 of them only there
    if max_pending == 1000:
        assert len(run.engine.join.records) == 1000
    run.label(cols, delays)
    run.commit()
    assert run.checkpointer.after_horizon == {"demo": int((delays > HORIZON).sum())}
    (row,) = run.rows()
    inside = delays <= HORIZON
    assert row["labeled"] == inside.sum() == N // 2 + 5
    assert row["metrics"]["labels_after_horizon"] == (~inside).sum()
    assert row["metrics"]["accuracy"] == pytest.approx(
        accuracy_score(cols.label[inside], cols.prediction[inside]), abs=1e-12
    )
    assert not row["final"]


def test_memory_and_sql_paths_give_the_same_windows(db_url):
    """The same feed, checkpointed alike, with every record in memory and with most in SQL."""
    rows = []
    for max_pending in (1_000_000, 1000):
        run = Run(db_url, max_pending)
        cols = _day0()
        run.predict(cols)
        run.commit()
        run.label(cols, _delays())
        run.commit()
        run.predict(_later(31))
        run.commit()
        rows.append(run.rows())
        _clear(run.store)
    assert rows[0] == rows[1]
    assert rows[0][0]["final"] and rows[0][0]["metrics"]["labels_after_horizon"] == N // 2 - 5


def _clear(store: Store) -> None:
    """Every table but the references emptied: the database as a new job finds it."""
    with store.engine.begin() as conn:
        for table in reversed(schema.metadata.sorted_tables):
            if table is not schema.references:
                conn.execute(table.delete())


def test_an_early_label_past_the_horizon_is_counted_when_its_prediction_comes(db_url):
    run = Run(db_url, 1_000_000)
    cols, delays = _day0(), _delays()
    run.label(cols, delays)  # before the predictions
    run.commit()
    run.predict(cols)
    run.commit()
    (row,) = run.rows()
    assert row["labeled"] == N // 2 + 5
    assert row["metrics"]["labels_after_horizon"] == N // 2 - 5
    assert run.checkpointer.after_horizon == {"demo": N // 2 - 5}


def test_a_prediction_overwrites_its_stored_early_label_whole(db_url):
    """Stored early labels, then their predictions: the records are written whole over the
    stored keys (PostgreSQL: the COPY meets them, and they are upserted instead), the label
    kept where it is within the horizon and dropped where it is past it."""
    run = Run(db_url, 1_000_000)
    cols, delays = _day0(), _delays()
    run.label(cols, delays)
    run.commit()
    run.predict(cols)
    run.commit()
    ids = cols.prediction_id.tolist()
    stored = run.checkpointer.performance.lookup(JOB, "0", ids)
    assert len(stored) == N
    for pid, t, y, d in zip(ids, cols.timestamp.tolist(), cols.label.tolist(), delays.tolist()):
        _model, version, ts, _pred, _score, _segments, label, label_ts = stored[pid]
        assert (version is not None, ts) == (True, t)
        assert (label, label_ts) == ((str(int(y)), t + d) if d <= HORIZON else (None, None))


def test_a_window_is_final_once_its_horizon_passed_and_stays_as_it_is(db_url):
    """Final when the watermark reaches the window's end + the horizon (not before); then the
    records are gone from memory and SQL, and a label for them changes nothing."""
    run = Run(db_url, 1000)
    cols = _day0()
    run.predict(cols)
    run.commit()
    run.label(cols, np.full(N, DAY))  # all within the horizon
    run.commit()
    run.predict(_later(30))  # the watermark on day 30: window end (day 1) + 30 days not reached
    run.commit()
    assert [r["final"] for r in run.rows() if r["window_end"] <= cols.timestamp[0] + DAY] == [False]
    run.predict(_later(31, 1))
    run.commit()
    (day0,) = [r for r in run.rows() if r["window_start"] <= cols.timestamp[0] < r["window_end"]]
    assert day0["final"] and day0["labeled"] == N
    assert not [
        k
        for k, r in run.engine.join.records.items()
        if r[2] is not None and r[2] < cols.timestamp[0] + DAY
    ]
    assert run.checkpointer.performance.lookup(JOB, "0", cols.prediction_id[:5].tolist()) == {}
    run.label(cols, np.full(N, 2 * DAY))  # relabels of expired predictions: nothing to join
    run.commit()
    (again,) = [r for r in run.rows() if r["window_start"] == day0["window_start"]]
    assert again == day0
