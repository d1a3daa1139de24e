"""The sketch of one model version over one pane, and its vectorised update.

>>> import numpy as np
>>> from monitor.config import parse_config
>>> from monitor.events import EventDecoder
>>> from monitor.layout import Layout
>>> from monitor.reference import ReferenceProfile
>>> from monitor.sketches import Geometry
>>> cfg = parse_config({"models": {"m": {"features": {"x": {"kind": "numeric"}},
...                                      "prediction": "none", "score": False}}})
>>> layout = Layout.from_model(cfg.models["m"])
>>> ref = ReferenceProfile.build("m", "1", layout, {"x": np.arange(100.0)}, fine_bins=10)
>>> geo = Geometry.build(layout, ref)
>>> batch = EventDecoder(cfg).decode_lines(
...     b'{"model_id":"m","model_version":"1","prediction_id":"a","timestamp":0,"features":{"x":5}}\\n'
...     b'{"model_id":"m","model_version":"1","prediction_id":"b","timestamp":0,"features":{}}\\n'
... ).batches["m"]
>>> (s,) = accumulate(geo, batch, np.zeros(2, np.int64), 1)
>>> s.events, int(s.num_counts.sum()), s.num_missing.tolist()
(2, 1, [1])
>>> s.merge(s.copy()); s.events
4
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field, replace
from itertools import repeat

import msgspec
import numpy as np

from monitor.events import ModelBatch
from monitor.reference import category
from monitor.sketches.geometry import Geometry

__all__ = ["Sketch", "accumulate", "UNSEEN_KEPT"]

#: Unseen categories kept by value per column and pane (the unseen total is always exact).
UNSEEN_KEPT = 20


@dataclass(eq=False)
class Sketch:
    """Counts of every sketched column of one model version in one pane (or merged window)."""

    events: int
    predictions: int
    num_counts: np.ndarray  # int64 (numeric columns, numeric_width)
    num_missing: np.ndarray  # int64 per numeric column
    num_min: np.ndarray  # float64 per numeric column (+inf when empty)
    num_max: np.ndarray  # float64 per numeric column (-inf when empty)
    cat_counts: np.ndarray  # int64 (categorical columns, categorical_width)
    cat_missing: np.ndarray  # int64 per categorical column
    unseen: list[dict[str, int]] = field(default_factory=list)
    baseline: bool = False  # holds events that built the reference (production baseline)

    @classmethod
    def empty(cls, geo: Geometry) -> Sketch:
        f, c = len(geo.numeric), len(geo.categorical)
        return cls(
            0,
            0,
            np.zeros((f, geo.numeric_width), np.int64),
            np.zeros(f, np.int64),
            np.full(f, np.inf),
            np.full(f, -np.inf),
            np.zeros((c, geo.categorical_width), np.int64),
            np.zeros(c, np.int64),
            [{} for _ in range(c)],
        )

    def merge(self, other: Sketch) -> None:
        """Add ``other`` into this sketch (exact; the order of merges does not matter)."""
        self.events += other.events
        self.predictions += other.predictions
        self.num_counts += other.num_counts
        self.num_missing += other.num_missing
        np.minimum(self.num_min, other.num_min, out=self.num_min)
        np.maximum(self.num_max, other.num_max, out=self.num_max)
        self.cat_counts += other.cat_counts
        self.cat_missing += other.cat_missing
        for mine, theirs in zip(self.unseen, other.unseen):
            for value, count in theirs.items():
                mine[value] = mine.get(value, 0) + count
        self.unseen = [_top(u) for u in self.unseen]
        self.baseline |= other.baseline

    def copy(self) -> Sketch:
        return replace(
            self,
            num_counts=self.num_counts.copy(),
            num_missing=self.num_missing.copy(),
            num_min=self.num_min.copy(),
            num_max=self.num_max.copy(),
            cat_counts=self.cat_counts.copy(),
            cat_missing=self.cat_missing.copy(),
            unseen=[dict(u) for u in self.unseen],
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sketch) and self.to_bytes() == other.to_bytes()

    def to_bytes(self) -> bytes:
        """A compact, deterministic serialisation (zlib over msgpack of the raw arrays)."""
        payload = [
            self.events,
            self.predictions,
            self.baseline,
            list(self.num_counts.shape),
            list(self.cat_counts.shape),
            *(a.tobytes() for a in (self.num_counts, self.num_missing, self.num_min, self.num_max)),
            self.cat_counts.tobytes(),
            self.cat_missing.tobytes(),
            [sorted(u.items()) for u in self.unseen],
        ]
        return zlib.compress(msgspec.msgpack.encode(payload), 1)

    @classmethod
    def from_bytes(cls, data: bytes) -> Sketch:
        ev, pr, base, nshape, cshape, nc, nm, nmin, nmax, cc, cm, unseen = msgspec.msgpack.decode(
            zlib.decompress(data)
        )

        def arr(b: bytes, dtype: type, shape: list[int] | None = None) -> np.ndarray:
            a = np.frombuffer(b, dtype).copy()
            return a.reshape(shape) if shape is not None else a

        return cls(
            ev,
            pr,
            arr(nc, np.int64, nshape),
            arr(nm, np.int64),
            arr(nmin, np.float64),
            arr(nmax, np.float64),
            arr(cc, np.int64, cshape),
            arr(cm, np.int64),
            [dict((k, v) for k, v in u) for u in unseen],
            base,
        )


def _top(counts: dict[str, int]) -> dict[str, int]:
    if len(counts) <= UNSEEN_KEPT:
        return counts
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:UNSEEN_KEPT])


def accumulate(geo: Geometry, batch: ModelBatch, group: np.ndarray, n_groups: int) -> list[Sketch]:
    """Sketch ``batch`` into ``n_groups`` new sketches; row i goes to sketch ``group[i]``.

    One ``searchsorted`` per numeric column and one ``bincount`` for all columns and groups.
    """
    len(batch)
    sketches = [Sketch.empty(geo) for _ in range(n_groups)]
    applies = batch.has_prediction
    events = np.bincount(group, minlength=n_groups)
    predictions = np.bincount(group[applies], minlength=n_groups)
    for g, s in enumerate(sketches):
        s.events, s.predictions = int(events[g]), int(predictions[g])
    if geo.numeric:
        _numeric(geo, batch, group, n_groups, sketches)
    if geo.categorical:
        _categorical(geo, batch, group, n_groups, sketches)
    return sketches


def _applicable(predictive: np.ndarray, has_prediction: np.ndarray) -> np.ndarray:
    """(n, columns) mask: prediction/score columns do not apply to feature-only events."""
    return ~predictive[None, :] | has_prediction[:, None]


def _numeric(geo: Geometry, batch: ModelBatch, group: np.ndarray, n_groups: int, out: list[Sketch]) -> None:
    # Sort each column once and search the bin edges in it: B searches per column instead of
    # n, and the sorted column hands over min, max and the valid range for free.
    x = batch.numeric[:, geo.numeric_cols]
    n, f = x.shape
    applies = _applicable(geo.numeric_predictive, batch.has_prediction)
    finite = np.isfinite(x)
    all_finite = bool(finite.all())
    missing = np.bincount((group[:, None] * f + np.arange(f))[applies & ~finite], minlength=n_groups * f)
    for g, s in enumerate(out):
        s.num_missing += missing[g * f : (g + 1) * f]
        # One contiguous row per column: sorting rows of the transposed copy is cache friendly.
        block = np.array((x if n_groups == 1 else x[group == g]).T, order="C")
        block.sort(axis=1)
        for j, prof in enumerate(geo.numeric):
            col = block[j]
            if all_finite:
                lo, hi = 0, col.size
            else:
                lo = int(np.searchsorted(col, -np.inf, side="right"))
                hi = int(np.searchsorted(col, np.inf, side="left"))
            if hi <= lo:
                continue
            valid = col[lo:hi]
            edges = prof.bin_edges
            below = np.empty(edges.size + 2, np.int64)
            below[0] = 0
            below[1:-2] = np.searchsorted(valid, edges[:-1], side="left")
            below[-2] = np.searchsorted(valid, edges[-1], side="right")
            below[-1] = valid.size
            s.num_counts[j, : prof.n_bins] += np.diff(below)
            s.num_min[j] = min(s.num_min[j], valid[0])
            s.num_max[j] = max(s.num_max[j], valid[-1])


def _categorical(geo: Geometry, batch: ModelBatch, group: np.ndarray, n_groups: int, out: list[Sketch]) -> None:
    n = len(batch)
    c = len(geo.categorical)
    width = geo.categorical_width
    codes = np.empty((n, c), np.int64)
    for j, prof in enumerate(geo.categorical):
        col = batch.categorical[geo.categorical_cols[j]]
        unseen = len(prof.vocab)
        code = np.fromiter(map(prof.codes.get, col, repeat(unseen)), np.int64, n)
        for i in np.flatnonzero(code == unseen).tolist():
            value = col[i]
            if isinstance(value, float) and not np.isfinite(value):
                code[i] = -1  # NaN/inf is a missing value, not a category
                continue
            key = value if isinstance(value, str) else category(value)
            code[i] = prof.index.get(key, unseen)
            if code[i] == unseen:
                bucket = out[int(group[i])].unseen[j]
                bucket[key] = bucket.get(key, 0) + 1
        codes[:, j] = code
    applies = _applicable(geo.categorical_predictive, batch.has_prediction)
    cell = group[:, None] * c + np.arange(c)
    present = applies & (codes >= 0)
    counts = np.bincount((cell * width + codes)[present], minlength=n_groups * c * width)
    missing = np.bincount(cell[applies & (codes < 0)], minlength=n_groups * c)
    counts = counts.reshape(n_groups, c, width)
    missing = missing.reshape(n_groups, c)
    for g, s in enumerate(out):
        s.cat_counts += counts[g]
        s.cat_missing += missing[g]
        s.unseen = [_top(u) for u in s.unseen]
