"""Windows evaluated together (every model's windows closing at one checkpoint) get exactly
what each gets evaluated alone: which windows close together differs between a replay and a
live run, and their windows must not."""

from __future__ import annotations

import json

import numpy as np

from monitor.config import parse_config
from monitor.drift import evaluate, evaluate_many
from monitor.events import EventDecoder
from monitor.layout import Layout
from monitor.reference import ReferenceProfile
from monitor.sketches import Geometry
from monitor.sketches.sketch import accumulate

MODELS = {
    "a": {  # numeric and categorical, compared with the previous window too
        "features": {
            "x": {"kind": "numeric"},
            "y": {"kind": "numeric"},
            "c": {"kind": "categorical"},
        },
        "compare_previous": True,
        "min_events": 0,
    },
    "b": {"features": {"x": {"kind": "numeric"}}, "prediction": "none", "min_events": 0},
}


def _reference(rng, model_id, model, n):
    columns = {"x": rng.normal(0, 1, n), "y": rng.exponential(2, n)}
    columns["c"] = rng.choice(["red", "green", "blue"], n).astype(object)
    columns["prediction"] = rng.choice(["0", "1"], n).astype(object)
    columns["score"] = rng.uniform(0, 1, n)
    wanted = {c: v for c, v in columns.items() if c in Layout.from_model(model).columns}
    return ReferenceProfile.for_model(model_id, "1", model, wanted)


def _window(rng, cfg, geo, model_id, n, shift):
    events = []
    for i in range(n):
        features = {"x": None if rng.random() < 0.05 else float(rng.normal(shift, 1))}
        if model_id == "a":
            features |= {
                "y": float(rng.exponential(2 + shift)),
                "c": str(rng.choice(["red", "blue", "pink"])),
            }
        event = {
            "model_id": model_id,
            "model_version": "1",
            "prediction_id": f"{i}",
            "timestamp": 0,
            "features": features,
        }
        if model_id == "a":
            event |= {"prediction": str(rng.integers(0, 2)), "score": float(rng.uniform(0, 1))}
        events.append(json.dumps(event).encode())
    batch = EventDecoder(cfg).decode_lines(b"\n".join(events) + b"\n").batches[model_id]
    (sketch,) = accumulate(geo, batch, np.zeros(len(batch), np.int64), 1)
    return sketch


def test_windows_evaluated_together_equal_each_alone():
    rng = np.random.default_rng(7)
    cfg = parse_config({"models": MODELS})
    windows, previous = [], {}
    for model_id, model in cfg.models.items():
        geo = Geometry.build(Layout.from_model(model), _reference(rng, model_id, model, 3000))
        for n, shift in ((40, 0.0), (617, 0.1), (900, 1.5), (5000, 0.05), (3, 0.0)):
            window = _window(rng, cfg, geo, model_id, n, shift)
            windows.append((model, geo, window, previous.get(model_id)))
            previous[model_id] = window
    together = evaluate_many(windows)
    alone = [evaluate(*w) for w in windows]
    assert together == alone
    # the KS p-values are among what was compared, and not all of them trivial
    pvalues = [
        c.statistics["ks_pvalue"]
        for columns, _ in together
        for c in columns
        if "ks_pvalue" in c.statistics
    ]
    assert any(p is not None and 0.0 < p < 0.05 for p in pvalues)
    assert any(c.previous for columns, _ in together for c in columns)
