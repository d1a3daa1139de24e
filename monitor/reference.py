"""Reference profiles: what "normal" looks like for each monitored column of a model version.

A numeric profile holds fine bin edges from the reference quantiles plus outer bins that grow
geometrically beyond the reference range (so mass that drifts out of range still has a location,
and every sketch stays integer counts, which merge exactly). A categorical profile holds the
vocabulary in a fixed order plus an "unseen" slot.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> prof = NumericProfile.build("x", rng.normal(size=10_000), fine_bins=100)
>>> prof.inner_bins, len(prof.bin_edges) == prof.inner_bins + 1 + 2 * OUTER_BINS
(100, True)
>>> int(prof.counts.sum()), prof.missing
(10000, 0)
>>> cat = CategoricalProfile.build("c", ["a", "b", "a", None])
>>> cat.vocab, cat.counts.tolist(), cat.missing
(('a', 'b'), [2, 1, 0], 1)
"""

from __future__ import annotations

import csv
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

import msgspec
import numpy as np

from monitor.config import ModelConfig
from monitor.exceptions import ReferenceProfileError
from monitor.layout import Layout
from monitor.segments import OTHER, SegmentPlan, top_values
from monitor.stats.binning import bin_index
from monitor.values import Column, aliases, category, numbers

if TYPE_CHECKING:  # monitor.performance imports this module
    from monitor.performance.calibration import CalibrationMap

__all__ = [
    "OUTER_BINS",
    "CategoricalProfile",
    "NumericProfile",
    "ReferenceProfile",
    "category",
    "read_reference_rows",
]

#: Outer bins on each side of the reference range: edges at ``scale * (2**(k/4) - 1)`` beyond
#: the range for k = 1..OUTER_BINS, i.e. up to 2**20 reference standard deviations out.
OUTER_BINS = 80
_OUTER_OFFSETS = 2.0 ** (np.arange(1, OUTER_BINS + 1) / 4.0) - 1.0


@dataclass(frozen=True, eq=False)
class NumericProfile:
    """Reference distribution of one numeric column over the sketch bins."""

    name: str
    edges: np.ndarray  # inner quantile edges, strictly increasing
    scale: float  # reference standard deviation (1.0 when the reference is constant)
    counts: np.ndarray  # reference counts over the sketch bins (len(bin_edges) + 1)
    missing: int
    kind: Literal["numeric"] = field(default="numeric", init=False)

    @classmethod
    def build(
        cls, name: str, values: np.ndarray, fine_bins: int = 1000, exact_max_values: int = 50
    ) -> NumericProfile:
        """Quantile bins; an integer column with at most ``exact_max_values`` distinct values
        gets exact bins instead: one holding each value alone and one for each gap between."""
        values = np.asarray(values, dtype=np.float64)
        finite = values[np.isfinite(values)]
        if finite.size == 0:
            raise ReferenceProfileError(f"reference column {name!r} has no finite values")
        distinct = np.unique(finite)
        if distinct.size <= exact_max_values and (distinct == np.round(distinct)).all():
            # [v, nextafter(v)) holds v alone, so KS is exact there (monitor.stats.ks)
            edges = np.unique(np.concatenate([distinct, np.nextafter(distinct, np.inf)]))
        else:
            edges = np.unique(np.quantile(finite, np.linspace(0.0, 1.0, fine_bins + 1)))
            if edges.size == 1:  # a constant column still needs one inner bin holding it
                edges = np.append(edges, edges[0])
            # Bins are right-open and the outer bins start at the last edge: nudge it just past
            # the reference maximum so the maximum (and every value tied with it) stays in range.
            edges[-1] = np.nextafter(edges[-1], np.inf)
        std = float(finite.std())
        scale = std if std > 0 and math.isfinite(std) else 1.0
        prof = cls(name, edges, scale, np.zeros(0, np.int64), int(values.size - finite.size))
        counts = np.bincount(bin_index(prof.bin_edges, finite), minlength=prof.n_bins)
        object.__setattr__(prof, "counts", counts.astype(np.int64))
        return prof

    @property
    def inner_bins(self) -> int:
        return int(self.edges.size - 1)

    @cached_property
    def bin_edges(self) -> np.ndarray:
        """All sketch edges: lower outer bins, the inner quantile bins, upper outer bins."""
        lo = self.edges[0] - self.scale * _OUTER_OFFSETS[::-1]
        hi = self.edges[-1] + self.scale * _OUTER_OFFSETS
        return np.concatenate([lo, self.edges, hi])

    @property
    def n_bins(self) -> int:
        """Sketch bins including the unbounded under/overflow bins."""
        return int(self.bin_edges.size + 1)

    @cached_property
    def points(self) -> np.ndarray:
        """A representative value per sketch bin (mid-points; the unbounded ends at their edge)."""
        e = self.bin_edges
        return np.concatenate([[e[0]], (e[:-1] + e[1:]) / 2.0, [e[-1]]])

    @cached_property
    def coarse_starts(self) -> np.ndarray:
        """``np.add.reduceat`` starts of the coarse (PSI/JS) bins: reference deciles by default,
        with everything beyond the reference range folded into the outermost coarse bins."""
        return self.coarse(10)

    def coarse(self, n_coarse: int) -> np.ndarray:
        b = self.inner_bins
        inner = (np.arange(1, min(n_coarse, b)) * b) // min(n_coarse, b)
        return np.concatenate([[0], 1 + OUTER_BINS + inner]).astype(np.intp)

    @cached_property
    def in_range(self) -> slice:
        """The sketch bins inside the reference range."""
        return slice(1 + OUTER_BINS, 1 + OUTER_BINS + self.inner_bins)

    def to_payload(self) -> dict[str, Any]:
        return {
            "kind": "numeric",
            "edges": self.edges.tolist(),
            "scale": self.scale,
            "counts": self.counts[self.in_range].tolist(),
            "missing": self.missing,
        }

    @classmethod
    def from_payload(cls, name: str, data: Mapping[str, Any]) -> NumericProfile:
        prof = cls(
            name,
            np.asarray(data["edges"], float),
            float(data["scale"]),
            np.zeros(0, np.int64),
            int(data["missing"]),
        )
        counts = np.zeros(prof.n_bins, np.int64)
        counts[prof.in_range] = data["counts"]
        object.__setattr__(prof, "counts", counts)
        return prof


@dataclass(frozen=True, eq=False)
class CategoricalProfile:
    """Reference distribution of one categorical column: counts per vocabulary entry + unseen."""

    name: str
    vocab: tuple[str, ...]
    counts: np.ndarray  # len(vocab) + 1; the last slot (unseen) is 0 for the reference itself
    missing: int
    kind: Literal["categorical"] = field(default="categorical", init=False)

    @classmethod
    def build(cls, name: str, values: Iterable[Any]) -> CategoricalProfile:
        counter = Counter(map(category, values))
        missing = counter.pop(None, 0)
        present = cast("Counter[str]", counter)  # None popped: the rest are categories
        if not counter:
            raise ReferenceProfileError(f"reference column {name!r} has no values")
        ordered = sorted(present.items(), key=lambda kv: (-kv[1], kv[0]))
        vocab = tuple(k for k, _ in ordered)
        counts = np.array([c for _, c in ordered] + [0], np.int64)
        return cls(name, vocab, counts, missing)

    @cached_property
    def index(self) -> dict[str, int]:
        return {v: i for i, v in enumerate(self.vocab)}

    @cached_property
    def codes(self) -> dict[Any, int]:
        """The vocabulary index for the hot path (:func:`monitor.values.aliases`), with ``None``
        (missing) at -1."""
        codes = aliases(self.vocab)
        codes[None] = -1
        return codes

    @property
    def n_bins(self) -> int:
        return len(self.vocab) + 1

    def to_payload(self) -> dict[str, Any]:
        return {
            "kind": "categorical",
            "vocab": list(self.vocab),
            "counts": self.counts[:-1].tolist(),
            "missing": self.missing,
        }

    @classmethod
    def from_payload(cls, name: str, data: Mapping[str, Any]) -> CategoricalProfile:
        return cls(
            name,
            tuple(data["vocab"]),
            np.array([*data["counts"], 0], np.int64),
            int(data["missing"]),
        )


Profile = NumericProfile | CategoricalProfile


@dataclass(frozen=True, eq=False)
class ReferenceProfile:
    """The reference of one model version: a profile per monitored column, and one reference
    per monitored segment (key -> value -> the profile of its rows; see :mod:`monitor.segments`).

    >>> layout = Layout(numeric=("x",), categorical=())
    >>> rows = {"x": np.arange(300.0), "region": ["eu"] * 200 + ["us"] * 90 + [None] * 10}
    >>> ref = ReferenceProfile.build(
    ...     "m", "1", layout, rows, fine_bins=10, segments=("region",), min_segment_rows=50
    ... )
    >>> ref.plan.values, ref.segments["region"]["eu"].rows, ref.segments["region"]["other"].rows
    ({'region': ('eu', 'us')}, 200, 300)
    """

    model_id: str
    model_version: str
    rows: int
    columns: dict[str, Profile]
    source: str = ""
    version: int = 0  # assigned by the store
    segments: dict[str, dict[str, ReferenceProfile]] = field(default_factory=dict)
    #: The isotonic map of the labeled reference scores (binary classifiers): the estimate's.
    calibration: CalibrationMap | None = None

    @classmethod
    def build(
        cls,
        model_id: str,
        model_version: str,
        layout: Layout,
        rows: Mapping[str, Column],
        fine_bins: int = 1000,
        source: str = "",
        segments: Sequence[str] = (),
        top_k: int = 10,
        min_segment_rows: int = 100,
        exact_max_values: int = 50,
    ) -> ReferenceProfile:
        """Profile every layout column present in ``rows`` (a mapping column -> values), and the
        rows of each monitored value of each segment key in ``segments`` (a column of ``rows``).

        Every configured feature must be present; ``prediction`` and ``score`` are optional
        (without them prediction drift compares windows only with each other). A segment's
        ``other`` is profiled from the rows of the values not monitored on their own; when there
        are none it is the whole reference (a value the reference never saw is compared with
        everyone). A column a segment's rows cannot profile (all missing) takes the whole
        reference's profile.
        """
        present = [c for c in layout.columns if c in rows]
        missing = [c for c in layout.columns if c not in rows and c not in ("prediction", "score")]
        if missing:
            raise ReferenceProfileError(f"reference rows lack the configured feature(s) {missing}")
        absent = [k for k in segments if k not in rows]
        if absent:
            raise ReferenceProfileError(
                f"reference rows lack the segment key column(s) {absent} (segments.keys)"
            )
        n = len(rows[present[0]]) if present else 0
        if n == 0:
            raise ReferenceProfileError("the reference has no rows")
        whole = cls(
            model_id,
            model_version,
            n,
            _profiles(layout, rows, present, (fine_bins, exact_max_values)),
            source,
        )
        for key in segments:
            values = list(map(category, rows[key]))
            names, codes = SegmentPlan({key: top_values(values, top_k, min_segment_rows)}).codes(
                values, key
            )
            members = [np.flatnonzero(codes == i) for i in range(len(names))]
            whole.segments[key] = {
                value: whole._subset(layout, rows, present, idx, (fine_bins, exact_max_values))
                if idx.size
                else whole
                for value, idx in zip(names, members)
            }
        return whole

    @classmethod
    def for_model(
        cls,
        model_id: str,
        model_version: str,
        cfg: ModelConfig,
        rows: Mapping[str, Column],
        source: str = "",
    ) -> ReferenceProfile:
        """:meth:`build` with the model's configured layout, bins and segments."""
        from monitor.performance.estimation import reference_calibration_map  # import cycle

        seg = cfg.segments
        profile = cls.build(
            model_id,
            model_version,
            Layout.from_model(cfg),
            rows,
            cfg.reference.fine_bins,
            source,
            seg.keys,
            seg.top_k,
            seg.min_reference_rows,
            cfg.reference.exact_bins_max_values,
        )
        object.__setattr__(profile, "calibration", reference_calibration_map(cfg, rows))
        return profile

    def _subset(
        self,
        layout: Layout,
        rows: Mapping[str, Column],
        present: list[str],
        idx: np.ndarray,
        bins: tuple[int, int],
    ) -> ReferenceProfile:
        sub = {
            c: np.asarray(rows[c])[idx]
            if isinstance(rows[c], np.ndarray)
            else [rows[c][i] for i in idx]
            for c in present
        }
        return ReferenceProfile(
            self.model_id,
            self.model_version,
            len(idx),
            _profiles(layout, sub, present, bins, self),
            self.source,
        )

    @property
    def plan(self) -> SegmentPlan:
        """Which values of each segment key are monitored on their own."""
        return SegmentPlan(
            {k: tuple(v for v in by_value if v != OTHER) for k, by_value in self.segments.items()}
        )

    def to_payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "rows": self.rows,
            "columns": {k: p.to_payload() for k, p in self.columns.items()},
        }
        if self.segments:  # the whole reference standing in for a segment is written as null
            payload["segments"] = {
                k: {v: None if p is self else p.to_payload() for v, p in by_value.items()}
                for k, by_value in self.segments.items()
            }
        if self.calibration is not None:
            payload["calibration"] = self.calibration.to_payload()
        return payload

    @classmethod
    def from_payload(
        cls,
        model_id: str,
        model_version: str,
        data: Mapping[str, Any],
        source: str = "",
        version: int = 0,
    ) -> ReferenceProfile:
        columns: dict[str, Profile] = {}
        for name, col in data["columns"].items():
            kind = NumericProfile if col["kind"] == "numeric" else CategoricalProfile
            columns[name] = kind.from_payload(name, col)
        from monitor.performance.calibration import CalibrationMap  # import cycle

        fitted = data.get("calibration")  # absent from profiles built before issue 12
        calibration = None if fitted is None else CalibrationMap.from_payload(fitted)
        whole = cls(
            model_id,
            model_version,
            int(data["rows"]),
            columns,
            source,
            version,
            calibration=calibration,
        )
        for key, by_value in (data.get("segments") or {}).items():
            whole.segments[key] = {
                v: whole
                if p is None
                else cls.from_payload(model_id, model_version, p, source, version)
                for v, p in by_value.items()
            }
        return whole


def _profiles(
    layout: Layout,
    rows: Mapping[str, Column],
    present: list[str],
    bins: tuple[int, int],
    fallback: ReferenceProfile | None = None,
) -> dict[str, Profile]:
    """Profile each column; ``bins``: (fine bins, exact bins up to this many values)."""
    profiles: dict[str, Profile] = {}
    for col in present:
        try:
            if col in layout.numeric:
                profiles[col] = NumericProfile.build(col, _floats(col, rows[col]), *bins)
            else:
                profiles[col] = CategoricalProfile.build(col, rows[col])
        except ReferenceProfileError:
            if fallback is None:
                raise
            profiles[col] = fallback.columns[col]
    return profiles


def _floats(name: str, values: Column) -> np.ndarray:
    try:
        return numbers(values)
    except ValueError as exc:
        raise ReferenceProfileError(f"reference column {name!r} {exc}") from None


def read_reference_rows(path: str | Path) -> dict[str, list[Any]]:
    """Read feature rows from CSV, JSONL or Parquet into columns.

    JSONL rows are either flat ``{feature: value}`` objects or prediction events, whose
    ``features`` and ``segments`` are lifted and whose ``prediction`` and ``score`` become columns.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        with path.open(newline="") as fh:  # an empty cell is a missing value, whatever the kind
            rows: list[dict[str, Any]] = [
                {k: (None if v == "" else v) for k, v in r.items()} for r in csv.DictReader(fh)
            ]
    elif suffix in (".jsonl", ".ndjson", ".json"):
        decoder = msgspec.json.Decoder()
        rows = []
        with path.open("rb") as fh:
            for number, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    rows.append(_flatten(decoder.decode(line)))
                except msgspec.DecodeError as exc:
                    raise ReferenceProfileError(
                        f"{path} line {number}: not valid JSON ({exc})"
                    ) from exc
    elif suffix == ".parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError as exc:
            raise ReferenceProfileError(
                "reading Parquet needs pyarrow: pip install pyarrow"
            ) from exc
        return pq.read_table(path).to_pydict()
    else:
        raise ReferenceProfileError(
            f"unsupported reference file type {suffix!r}: use .csv, .jsonl or .parquet"
        )
    columns: dict[str, list[Any]] = {}
    for i, row in enumerate(rows):
        for key in row.keys() - columns.keys():
            columns[key] = [None] * i
        for key, col in columns.items():
            col.append(row.get(key))
    return columns


def _flatten(row: Any) -> dict[str, Any]:
    if not isinstance(row, dict):
        raise ReferenceProfileError(
            f"a JSONL reference row must be an object, got {type(row).__name__}"
        )
    if isinstance(row.get("features"), dict):
        flat = dict(row["features"])
        for key in ("prediction", "score"):
            if key in row:
                flat[key] = row[key]
        if isinstance(row.get("segments"), dict):  # segment keys are columns of a reference
            flat.update(row["segments"])
        return flat
    return row
