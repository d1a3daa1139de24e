"""Isotonic calibration of a binary classifier's scores, fitted on a labeled reference.

A confidence-based estimate reads a score ``s`` as the probability that the event is positive,
which holds only for calibrated scores. :func:`fit_isotonic` learns, from the reference's
scores and labels, the non-decreasing map ``g`` that is closest to the labels in squared error
(isotonic regression, as NannyML's CBPE and scikit-learn's ``IsotonicRegression`` do);
``g(s)`` is then the calibrated probability. The map is monotone, so it keeps the order of the
scores; covariate shift moves mass along the score axis, and ``g`` stays right wherever the
reference had scores (``P(y | s)`` does not change under covariate shift).

The map is stored with the reference profile; the window state (score histograms) is not
touched: :meth:`~monitor.performance.estimation.EstimationState.metrics` applies the map to
each score bin at read time.

>>> import numpy as np
>>> g = fit_isotonic(np.array([0.1, 0.2, 0.3, 0.4]), np.array([0, 1, 0, 1]))
>>> g.knots.tolist(), g.values.tolist()
([0.1, 0.2, 0.3, 0.4], [0.0, 0.5, 0.5, 1.0])
>>> g(np.array([0.0, 0.15, 0.35, 0.9])).round(6).tolist()
[0.0, 0.25, 0.75, 1.0]
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["CalibrationMap", "fit_isotonic"]


class CalibrationMap(NamedTuple):
    """A non-decreasing, piecewise-linear map from raw scores to calibrated probabilities.

    Between two knots the map interpolates linearly; below the first knot and above the last
    it is constant (scikit-learn's ``out_of_bounds="clip"``). ``rows`` is the number of
    labeled reference rows it was fitted on.
    """

    knots: NDArray[np.float64]
    values: NDArray[np.float64]
    rows: int

    def __call__(self, score: ArrayLike) -> NDArray[np.float64]:
        """The calibrated probability of each score."""
        return np.interp(np.asarray(score, np.float64), self.knots, self.values)

    def to_payload(self) -> dict[str, Any]:
        return {"knots": self.knots.tolist(), "values": self.values.tolist(), "rows": self.rows}

    @classmethod
    def from_payload(cls, data: Mapping[str, Any]) -> CalibrationMap:
        """The map of :meth:`to_payload`.

        >>> g = CalibrationMap(np.array([0.2, 0.8]), np.array([0.1, 0.9]), 100)
        >>> CalibrationMap.from_payload(g.to_payload())(0.5).item()
        0.5
        """
        knots = np.asarray(data["knots"], np.float64)
        values = np.asarray(data["values"], np.float64)
        return cls(knots, values, int(data["rows"]))


def fit_isotonic(score: ArrayLike, positive: ArrayLike) -> CalibrationMap:
    """The isotonic regression of ``positive`` (bool or 0/1) on ``score``, as a map.

    Equal scores are pooled first (their mean label, weighted by their count), the
    pool-adjacent-violators algorithm (``scipy.optimize.isotonic_regression``) fits the pooled
    means, and only the knots where the fitted value changes are kept (each block's first and
    last score), so the map predicts exactly as scikit-learn's ``IsotonicRegression`` with
    ``out_of_bounds="clip"`` while its payload stays small (a few hundred knots for 50,000
    rows).

    >>> fit_isotonic([0.5], [1])
    CalibrationMap(knots=array([0.5]), values=array([1.]), rows=1)
    >>> fit_isotonic([], [])
    Traceback (most recent call last):
    ...
    ValueError: calibration needs at least one labeled score
    """
    s = np.asarray(score, np.float64)
    y = np.asarray(positive, np.float64)
    if s.shape != y.shape or s.ndim != 1:
        raise ValueError(f"score and positive must be 1-d of one length, got {s.shape}, {y.shape}")
    if s.size == 0:
        raise ValueError("calibration needs at least one labeled score")
    if not np.isfinite(s).all():
        raise ValueError("scores must be finite")
    knots, inverse = np.unique(s, return_inverse=True)
    weights = np.bincount(inverse).astype(np.float64)
    means = np.bincount(inverse, weights=y) / weights
    from scipy.optimize import isotonic_regression  # here: scipy.optimize loads in 0.3 s

    values = isotonic_regression(means, weights=weights).x
    keep = np.ones(values.size, bool)  # drop knots inside a constant run: they change nothing
    keep[1:-1] = (values[1:-1] != values[:-2]) | (values[1:-1] != values[2:])
    return CalibrationMap(knots[keep], values[keep], int(s.size))
