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
...     b'{"model_id":"m","model_version":"1","prediction_id":"a","timestamp":0,'
...     b'"features":{"x":5}}\\n'
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
from collections import Counter
from dataclasses import dataclass, field, replace
from itertools import repeat
from typing import Any

import msgspec
import numpy as np

from monitor.events import ModelBatch
from monitor.reference import CategoricalProfile, category
from monitor.sketches.geometry import Geometry

__all__ = ["UNSEEN_KEPT", "Sketch", "accumulate", "groups"]

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
            a: np.ndarray = np.frombuffer(b, dtype).copy()
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
            [dict(u) for u in unseen],
            base,
        )


def _top(counts: dict[str, int]) -> dict[str, int]:
    if len(counts) <= UNSEEN_KEPT:
        return counts
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:UNSEEN_KEPT])


def groups(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct ``keys`` and each row's index among them (``np.unique`` with
    ``return_inverse``), the ``group`` of :func:`accumulate`; no sort when all keys are equal,
    as they are when a batch falls in one pane.

    >>> [[a.tolist() for a in groups(np.array(x))] for x in ([5, 3, 5], [4, 4])]
    [[[3, 5], [1, 0, 1]], [[4], [0, 0]]]
    """
    if (keys == keys[:1]).all():
        return keys[:1], np.zeros(keys.size, np.int64)
    uniq, group = np.unique(keys, return_inverse=True)
    return uniq, group.astype(np.int64)


def accumulate(geo: Geometry, batch: ModelBatch, group: np.ndarray, n_groups: int) -> list[Sketch]:
    """Sketch ``batch`` into ``n_groups`` new sketches; row i goes to sketch ``group[i]``.

    One ``searchsorted`` per numeric column and one ``bincount`` for all columns and groups.
    """
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
    """(columns, n) mask: prediction/score columns do not apply to feature-only events."""
    return ~predictive[:, None] | has_prediction[None, :]


def _numeric(
    geo: Geometry, batch: ModelBatch, group: np.ndarray, n_groups: int, out: list[Sketch]
) -> None:
    # Sort each column once: the sorted column hands over min, max and the valid range for
    # free, and binning it is a search either way round (below).
    # One contiguous row per column (transposing the whole matrix first is a plain copy;
    # gathering columns from the row-major matrix is several times slower).
    x = np.ascontiguousarray(batch.numeric.T)[geo.numeric_cols]
    f = x.shape[0]
    finite = np.isfinite(x)
    all_finite = bool(finite.all())
    if not all_finite:
        lost = ~finite & _applicable(geo.numeric_predictive, batch.has_prediction)
        missing = np.bincount(
            (group[None, :] * f + np.arange(f)[:, None])[lost], minlength=n_groups * f
        )
    rows = np.arange(f)
    for g, s in enumerate(out):
        block = x if n_groups == 1 else x[:, group == g]  # x is already a copy: sort in place
        block.sort(axis=1)
        size = block.shape[1]
        if all_finite:
            lo, hi = np.zeros(f, np.intp), np.full(f, size)
        else:  # sorted: -inf, the finite values, +inf, NaN
            s.num_missing += missing[g * f : (g + 1) * f]
            lo = np.count_nonzero(block == -np.inf, axis=1)
            hi = lo + np.count_nonzero(np.isfinite(block), axis=1)
        # The same counts two ways: fewer values than bins, each value's bin is searched
        # among the bin keys (a search over the bins costs per bin, whatever the values);
        # more, each bin key among the values.
        count = _by_value if size < geo.numeric_width else _by_key
        s.num_counts += count(geo, block, lo, hi)
        some = hi > lo
        s.num_min[some] = block[rows[some], lo[some]]
        s.num_max[some] = block[rows[some], hi[some] - 1]


def _by_key(geo: Geometry, block: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Bin counts of the sorted rows of ``block`` (finite from ``lo`` to ``hi``): where each
    column's bin keys fall among its values."""
    below = np.empty((block.shape[0], geo.numeric_width + 1), np.int64)
    below[:, 0] = lo  # below[j, k]: values before bin k of column j
    for j, keys in enumerate(geo.numeric_keys):
        below[j, 1 : keys.size + 1] = block[j].searchsorted(keys)
        below[j, keys.size + 1 :] = hi[j]  # the bins past a column's own are empty
    return np.diff(below, axis=1)


def _by_value(geo: Geometry, block: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """:func:`_by_key`'s counts from each value's bin: the keys up to it (sorted values make
    the searches cheap); a value outside ``lo:hi`` goes to a bin past the last, dropped."""
    f, width = block.shape[0], geo.numeric_width
    bins = np.empty(block.shape, np.intp)
    for j, keys in enumerate(geo.numeric_keys):
        bins[j] = keys.searchsorted(block[j], "right")
    if lo.any() or (hi < block.shape[1]).any():
        at = np.arange(block.shape[1])
        bins[(at < lo[:, None]) | (at >= hi[:, None])] = width
    bins += np.arange(f)[:, None] * (width + 1)
    counts = np.bincount(bins.ravel(), minlength=f * (width + 1))
    return counts.reshape(f, width + 1)[:, :width]


def _categorical(
    geo: Geometry, batch: ModelBatch, group: np.ndarray, n_groups: int, out: list[Sketch]
) -> None:
    n = len(batch)
    c = len(geo.categorical)
    width = geo.categorical_width
    codes = np.empty((c, n), np.int64)
    for j, prof in enumerate(geo.categorical):
        col = batch.categorical[geo.categorical_cols[j]]
        unseen = len(prof.vocab)
        code = np.fromiter(map(prof.codes.get, col, repeat(unseen)), np.int64, n)
        rare = np.flatnonzero(code == unseen)
        if rare.size:
            _settle(prof, col, rare, group, code, [s.unseen[j] for s in out])
        codes[j] = code
    applies = _applicable(geo.categorical_predictive, batch.has_prediction)
    cell = group[None, :] * c + np.arange(c)[:, None]
    present = applies & (codes >= 0)
    counts = np.bincount((cell * width + codes)[present], minlength=n_groups * c * width)
    missing = np.bincount(cell[applies & (codes < 0)], minlength=n_groups * c)
    counts = counts.reshape(n_groups, c, width)
    missing = missing.reshape(n_groups, c)
    for g, s in enumerate(out):
        s.cat_counts += counts[g]
        s.cat_missing += missing[g]
        s.unseen = [_top(u) for u in s.unseen]


def _settle(
    prof: CategoricalProfile,
    col: list[Any],
    rare: np.ndarray,
    group: np.ndarray,
    code: np.ndarray,
    unseen: list[dict[str, int]],
) -> None:
    """Settle the values the vocabulary lookup missed (``code[rare]``, the unseen slot): other
    spellings of a category (``2.5`` for "2.5"), missing values (NaN, inf) and unseen
    categories, counted by name in their group's ``unseen``. Once per distinct (group, type,
    value), since a new category tends to come many times; the type keeps ``True`` apart from
    ``1``, as their names differ."""
    slot = len(prof.vocab)
    values = list(map(col.__getitem__, rare.tolist()))
    types = list(map(type, values))
    settled: dict[tuple[type, Any], int] = {}
    for (g, kind, value), count in Counter(zip(group[rare].tolist(), types, values)).items():
        key = category(value)  # None for NaN/inf: a missing value (code -1), not a category
        settled[kind, value] = i = prof.codes.get(key, slot)
        if i == slot:
            unseen[g][key] = unseen[g].get(key, 0) + count
    if any(i != slot for i in settled.values()):
        code[rare] = np.fromiter(map(settled.__getitem__, zip(types, values)), np.int64, rare.size)
