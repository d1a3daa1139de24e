"""The cost of one spelling of values (issue 12), old and new interleaved in one process
(the box is shared: medians of 7 runs, each a ratio to decoding the same events in that run).

    .venv/bin/python -m bench.values
"""

import json
import statistics
import time
from itertools import repeat

import numpy as np

from monitor.config import parse_config
from monitor.events import EventDecoder, LabelDecoder
from monitor.reference import CategoricalProfile
from monitor.values import categories

N = 50_000
rng = np.random.default_rng(0)
feats = {f"x{i}": {"kind": "numeric"} for i in range(20)}
feats.update({"member": {"kind": "categorical"}, "plan": {"kind": "categorical"}})
cfg = parse_config({"models": {"m": {"features": feats}}})
X = rng.normal(size=(N, 20)).round(6)
member, plan = rng.random(N) < 0.3, rng.integers(0, 5, N)
lines = []
for i in range(N):
    f = {f"x{j}": float(X[i, j]) for j in range(20)}
    f["member"] = bool(member[i])
    f["plan"] = int(plan[i])
    lines.append(
        json.dumps(
            {
                "model_id": "m",
                "model_version": "1",
                "prediction_id": f"p{i}",
                "timestamp": 1_700_000_000_000 + i,
                "features": f,
                "prediction": int(i % 2),
                "score": 0.5,
            }
        )
    )
data = ("\n".join(lines) + "\n").encode()
labels = [
    json.dumps(
        {
            "model_id": "m",
            "prediction_id": f"p{i}",
            "label": i % 2,
            "timestamp": 1_700_000_000_000 + i,
        }
    ).encode()
    for i in range(N)
]
dec, ldec = EventDecoder(cfg), LabelDecoder(cfg)
batch = dec.decode_lines(data).batches["m"]
# references as pandas writes them: "True"/"False", and "1.0" for an int column with a gap
refs = (
    CategoricalProfile.build("member", ["True", "False"] * 50),
    CategoricalProfile.build("plan", [f"{k}.0" for k in range(5)] * 20),
    CategoricalProfile.build("prediction", ["0", "1"] * 50),
)


def old_codes(prof):  # CategoricalProfile.codes before issue 12
    codes = dict(prof.index)
    for value, i in prof.index.items():
        if value.lstrip("-").isdigit() and str(int(value)) == value:
            codes[int(value)] = i
    if not any(k in codes for k in (0, 1)):
        for value, flag in (("true", True), ("false", False)):
            if value in prof.index:
                codes[flag] = prof.index[value]
    return codes


def old_category(value):  # monitor.reference.category before issue 12
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


preds_int = batch.categorical[-1]  # JSON 0/1 predictions
preds_str = [str(v) for v in preds_int]  # "0"/"1" strings
work = {
    "decode_lines (yardstick)": lambda: dec.decode_lines(data),
    "label decode_values (new)": lambda: ldec.decode_values(labels),
    "spell int predictions, old": lambda: [
        v if v is None or isinstance(v, str) else old_category(v) for v in preds_int
    ],
    "spell int predictions, new": lambda: categories(preds_int),
    "spell str predictions, old": lambda: [
        v if v is None or isinstance(v, str) else old_category(v) for v in preds_str
    ],
    "spell str predictions, new": lambda: categories(preds_str),
    "codes lookup, 3 columns": lambda: [
        np.fromiter(map(p.codes.get, c, repeat(len(p.vocab))), np.int64, N)
        for p, c in zip(refs, batch.categorical)
    ],
}
times = {k: [] for k in work}
for _ in range(7):
    for k, fn in work.items():
        t = time.perf_counter()
        fn()
        times[k].append(time.perf_counter() - t)
med = {k: statistics.median(v) for k, v in times.items()}
base = med["decode_lines (yardstick)"]
for k, t in med.items():
    print(f"{k:30s} {N / t:>13,.0f}/s   {100 * t / base:6.1f} % of decoding the events")
old_refs = (  # the vocabularies as they were built before: strings as pandas wrote them
    CategoricalProfile("member", ("True", "False"), np.zeros(3, np.int64), 0),
    CategoricalProfile("plan", tuple(f"{k}.0" for k in range(5)), np.zeros(6, np.int64), 0),
    refs[2],
)
for name, profs, lookup in (("before", old_refs, old_codes), ("now", refs, lambda p: p.codes)):
    unseen = [
        int(
            (
                np.fromiter(map(lookup(p).get, c, repeat(len(p.vocab))), np.int64, N)
                == len(p.vocab)
            ).sum()
        )
        for p, c in zip(profs, batch.categorical)
    ]
    print(f"events the vocabulary lookup misses (member, plan, prediction), {name}: {unseen}")
