"""The bin geometry of one model version, derived once from its reference profile."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from monitor.layout import PREDICTION, SCORE, Layout
from monitor.reference import CategoricalProfile, NumericProfile, ReferenceProfile

__all__ = ["Geometry", "NumericBlock"]


@dataclass(frozen=True, eq=False)
class NumericBlock:
    ref: np.ndarray  # (columns, width) reference counts, zero padded
    points: np.ndarray  # (columns, width) bin representatives, padded with the last one
    scale: np.ndarray  # (columns,) reference standard deviations


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

    @classmethod
    def build(cls, layout: Layout, reference: ReferenceProfile) -> Geometry:
        num_cols = [i for i, c in enumerate(layout.numeric) if c in reference.columns]
        cat_cols = [i for i, c in enumerate(layout.categorical) if c in reference.columns]
        numeric = tuple(reference.columns[layout.numeric[i]] for i in num_cols)
        categorical = tuple(reference.columns[layout.categorical[i]] for i in cat_cols)
        assert all(isinstance(p, NumericProfile) for p in numeric), "reference kinds differ from the config"
        assert all(isinstance(p, CategoricalProfile) for p in categorical), "reference kinds differ from the config"
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
        return NumericBlock(ref, points, scale)

    def coarse_starts(self, n_coarse: int) -> np.ndarray | None:
        """``np.add.reduceat`` starts over the flattened (columns, width) counts giving every
        numeric column's coarse bins, or None when columns have different numbers of them."""
        starts = [p.coarse(n_coarse) for p in self.numeric]
        if len({s.size for s in starts}) != 1:
            return None
        return np.concatenate([j * self.numeric_width + s for j, s in enumerate(starts)]).astype(np.intp)

