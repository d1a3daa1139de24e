"""The bin geometry of one model version, derived once from its reference profile."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from monitor.layout import PREDICTION, SCORE, Layout
from monitor.reference import CategoricalProfile, NumericProfile, ReferenceProfile

__all__ = ["Geometry"]


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

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.numeric) + tuple(p.name for p in self.categorical)
