"""The bin geometry of one model version, derived once from its reference profile."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from monitor.layout import PREDICTION, SCORE, Layout
from monitor.reference import CategoricalProfile, NumericProfile, ReferenceProfile
from monitor.stats.rows import Side, side, wasserstein_divisor

__all__ = ["CoarseBlock", "Geometry", "NumericBlock"]


@dataclass(frozen=True, eq=False)
class NumericBlock:
    ref: np.ndarray  # (columns, width) reference counts, zero padded
    points: np.ndarray  # (columns, width) bin representatives, padded with the last one
    scale: np.ndarray  # (columns,) reference standard deviations
    atoms: np.ndarray  # (columns, width) bool: bins holding a single value (exact bins)
    side: Side  # what the fine-bin statistics derive from ``ref``, once for every window
    gaps: np.ndarray  # (columns, width - 1) between consecutive points (Wasserstein's steps)
    divisor: np.ndarray  # (columns,) what Wasserstein distances are divided by (scale, or 1)


@dataclass(frozen=True, eq=False)
class Geometry:
    """Which layout columns are sketched and over which bins.

    Columns of the layout that the reference lacks (``prediction``/``score`` when the reference
    file had none) are not sketched.
    """

    reference: ReferenceProfile
    numeric: tuple[NumericProfile, ...]
    categorical: tuple[CategoricalProfile, ...]
    numeric_cols: np.ndarray  # positions of the sketched numeric columns in ModelBatch.numeric
    categorical_cols: tuple[int, ...]  # positions in ModelBatch.categorical
    numeric_width: int
    categorical_width: int
    numeric_predictive: np.ndarray = field(repr=False)  # bool per sketched numeric column
    categorical_predictive: np.ndarray = field(repr=False)
    _coarse: dict[int, CoarseBlock] = field(default_factory=dict, init=False, repr=False)

    @classmethod
    def build(cls, layout: Layout, reference: ReferenceProfile) -> Geometry:
        num_cols = [i for i, c in enumerate(layout.numeric) if c in reference.columns]
        cat_cols = [i for i, c in enumerate(layout.categorical) if c in reference.columns]
        numeric = tuple(reference.columns[layout.numeric[i]] for i in num_cols)
        categorical = tuple(reference.columns[layout.categorical[i]] for i in cat_cols)
        assert all(isinstance(p, NumericProfile) for p in numeric), (
            "reference kinds differ from the config"
        )
        assert all(isinstance(p, CategoricalProfile) for p in categorical), (
            "reference kinds differ from the config"
        )
        return cls(
            reference,
            numeric,  # type: ignore[arg-type]
            categorical,  # type: ignore[arg-type]
            np.asarray(num_cols, np.intp),
            tuple(cat_cols),
            max((p.n_bins for p in numeric), default=1),
            max((p.n_bins for p in categorical), default=1),
            np.array([p.name in (SCORE, PREDICTION) for p in numeric], bool),
            np.array([p.name == PREDICTION for p in categorical], bool),
        )

    @cached_property
    def numeric_reference(self) -> NumericBlock:
        """The numeric profiles as padded matrices, for evaluating all columns at once."""
        f, width = len(self.numeric), self.numeric_width
        ref = np.zeros((f, width))
        points = np.zeros((f, width))
        for j, prof in enumerate(self.numeric):
            ref[j, : prof.n_bins] = prof.counts
            points[j, : prof.n_bins] = prof.points
            points[j, prof.n_bins :] = prof.points[-1]  # zero mass, zero gap
        scale = np.array([p.scale for p in self.numeric])
        atoms = np.zeros((f, width), bool)
        for j, prof in enumerate(self.numeric):
            e = prof.bin_edges  # bin i is [e[i - 1], e[i]); the last one also holds e[-1]
            atoms[j, 1 : e.size - 1] = np.nextafter(e[:-2], np.inf) == e[1:-1]
        gaps, divisor = np.diff(points, axis=1), wasserstein_divisor(scale)
        return NumericBlock(ref, points, scale, atoms, side(ref), gaps, divisor)

    @cached_property
    def numeric_keys(self) -> tuple[np.ndarray, ...]:
        """Per numeric column, the values whose left insertion points in the sorted column are
        its bin boundaries: the edges, the last one raised to the next float because the last
        inner bin includes its upper edge (``v <= e`` is ``v < nextafter(e, inf)``)."""
        return tuple(
            np.append(p.bin_edges[:-1], np.nextafter(p.bin_edges[-1], np.inf)) for p in self.numeric
        )

    @cached_property
    def reference_sizes(self) -> dict[str, tuple[int, int]]:
        """(values present, values missing) of every sketched column in the reference."""
        profiles: tuple[NumericProfile | CategoricalProfile, ...] = (
            *self.numeric,
            *self.categorical,
        )
        return {p.name: (int(p.counts.sum()), p.missing) for p in profiles}

    @cached_property
    def missing_rates(self) -> dict[str, float]:
        """The share of missing values of every sketched column in the reference."""
        return {name: m / max(n + m, 1) for name, (n, m) in self.reference_sizes.items()}

    def coarse(self, n_coarse: int) -> CoarseBlock:
        """The numeric columns' coarse bins for ``n_coarse`` of them (built once per number)."""
        if n_coarse not in self._coarse:
            self._coarse[n_coarse] = CoarseBlock.build(self, n_coarse)
        return self._coarse[n_coarse]


@dataclass(frozen=True, eq=False)
class CoarseBlock:
    """``np.add.reduceat`` starts over the flattened (columns, width) numeric counts: the coarse
    PSI/JS bins of every column, and its report histogram (below range, about ``n_coarse``
    slices of the reference range, above range). Sums of integer counts are exact, so all
    columns are summed in one call."""

    starts: np.ndarray | None  # None when columns have different numbers of coarse bins
    ref: np.ndarray | None  # (columns, coarse) reference counts over them
    histogram_starts: np.ndarray
    histogram_ends: tuple[int, ...]  # where each column's histogram ends in the reduceat result
    histogram_edges: tuple[tuple[float, ...], ...]

    @classmethod
    def build(cls, geo: Geometry, n_coarse: int) -> CoarseBlock:
        width = geo.numeric_width
        coarse = [p.coarse(n_coarse) for p in geo.numeric]
        starts = ref = None
        if len({c.size for c in coarse}) == 1:
            starts = np.concatenate([j * width + c for j, c in enumerate(coarse)]).astype(np.intp)
            ref = np.add.reduceat(geo.numeric_reference.ref.ravel(), starts).reshape(
                len(coarse), -1
            )
        hist: list[np.ndarray] = []
        edges: list[tuple[float, ...]] = []
        for j, p in enumerate(geo.numeric):
            b = p.inner_bins
            k = min(n_coarse, b)
            inner = (np.arange(k) * b) // k
            # Each column starts at 0 (its below-range bins); its above-range run ends where the
            # next column starts (the zero padding in between adds nothing).
            hist.append(
                j * width + np.concatenate([[0], p.in_range.start + inner, [p.in_range.stop]])
            )
            edges.append(tuple(p.edges[np.append(inner, b)].tolist()))
        ends = np.cumsum([h.size for h in hist]).tolist()
        return cls(starts, ref, np.concatenate(hist).astype(np.intp), tuple(ends), tuple(edges))
