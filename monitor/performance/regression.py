"""Regression performance of one model version over one pane or window, as mergeable sums.

The state holds float64 sums of the errors (``error = y_pred - y_true``), their absolute values
and squares, the absolute percentage errors, and the count, mean and sum of squared deviations
of ``y_true``. Float addition is not associative, so merged states agree with one pass up to
floating-point rounding (relative 1e-12 or so), not to the bit.

The spread of ``y_true`` (for R²) is held as a mean and a sum of squared deviations, combined
with Chan et al.'s pairwise update, rather than as sums of ``y`` and ``y²``: the textbook
``Σy² - (Σy)²/n`` cancels catastrophically when the mean is large against the spread (with
``y`` near 1e6 ± 1, R² comes out wrong in the fifth digit), while the pairwise update keeps R²
within 1e-9 of scikit-learn's.

MAPE is the mean of ``|error| / |y_true|`` over the events with ``y_true != 0``; events with
``y_true == 0`` have no percentage error and are left out of it (they count in every other
metric). ``mape_n`` says how many events it covers. (scikit-learn instead divides by
``max(|y_true|, eps)``, which turns each zero into an error of order 1e15.)

>>> import numpy as np
>>> state = RegressionState()
>>> state.update(np.array([1.0, 2.0, 0.0, 4.0]), np.array([1.5, 2.0, 0.5, 3.0]))
>>> m = state.metrics()
>>> m["mae"], m["mape"], m["mape_n"]
(0.5, 0.25, 3)
"""

from __future__ import annotations

import math

import msgspec
import numpy as np
from numpy.typing import ArrayLike

__all__ = ["RegressionState"]


class RegressionState:
    """Mergeable error sums of a regressor.

    Examples
    --------
    >>> import numpy as np
    >>> a, b = RegressionState(), RegressionState()
    >>> a.update(np.array([1.0, 2.0]), np.array([1.0, 3.0]))
    >>> b.update(np.array([3.0]), np.array([1.0]))
    >>> a.merge(b)
    >>> m = a.metrics()
    >>> m["n"], m["mae"], m["rmse"], m["r2"], m["mean_error"]
    (3, 1.0, 1.2909944487358056, -1.5, -0.3333333333333333)

    """

    def __init__(self) -> None:
        self.n = 0
        self.error_sum = 0.0
        self.abs_error_sum = 0.0
        self.sq_error_sum = 0.0
        self.y_mean = 0.0
        #: Sum of squared deviations of y_true from its mean.
        self.y_m2 = 0.0
        #: Sum of |error| / |y_true| over y_true != 0, and the number of those events.
        self.ape_sum = 0.0
        self.ape_n = 0

    def update(self, y_true: ArrayLike, y_pred: ArrayLike) -> None:
        """Add a batch of labeled predictions."""
        y = np.asarray(y_true, dtype=np.float64)
        p = np.asarray(y_pred, dtype=np.float64)
        if y.ndim != 1 or p.shape != y.shape:
            raise ValueError(
                "y_true and y_pred must be 1-d arrays of the same length, got shapes "
                f"{y.shape} and {p.shape}"
            )
        error = p - y
        if y.size == 0:
            return
        if not (np.isfinite(y).all() and np.isfinite(error).all()):
            raise ValueError("y_true and y_pred must be finite")
        abs_error = np.abs(error)
        nonzero = y != 0
        batch = RegressionState()
        batch.n = y.size
        batch.error_sum = float(error.sum())
        batch.abs_error_sum = float(abs_error.sum())
        batch.sq_error_sum = float(error @ error)
        batch.y_mean = float(y.mean())
        deviation = y - batch.y_mean
        batch.y_m2 = float(deviation @ deviation)
        batch.ape_sum = float((abs_error[nonzero] / np.abs(y[nonzero])).sum())
        batch.ape_n = int(nonzero.sum())
        self.merge(batch)

    def merge(self, other: RegressionState) -> None:
        """Add ``other`` into this state (exact up to floating-point rounding)."""
        n = self.n + other.n
        if n == 0:
            return
        delta = other.y_mean - self.y_mean
        self.y_m2 += other.y_m2 + delta * delta * self.n * other.n / n
        self.y_mean += delta * other.n / n
        self.n = n
        self.error_sum += other.error_sum
        self.abs_error_sum += other.abs_error_sum
        self.sq_error_sum += other.sq_error_sum
        self.ape_sum += other.ape_sum
        self.ape_n += other.ape_n

    def copy(self) -> RegressionState:
        return RegressionState.from_bytes(self.to_bytes())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RegressionState) and self.to_bytes() == other.to_bytes()

    def _fields(self) -> list:
        return [
            self.n,
            self.error_sum,
            self.abs_error_sum,
            self.sq_error_sum,
            self.y_mean,
            self.y_m2,
            self.ape_sum,
            self.ape_n,
        ]

    def to_bytes(self) -> bytes:
        """A deterministic serialisation (msgpack keeps float64 exactly)."""
        return msgspec.msgpack.encode(self._fields())

    @classmethod
    def from_bytes(cls, data: bytes) -> RegressionState:
        state = cls()
        (
            state.n,
            state.error_sum,
            state.abs_error_sum,
            state.sq_error_sum,
            state.y_mean,
            state.y_m2,
            state.ape_sum,
            state.ape_n,
        ) = msgspec.msgpack.decode(data)
        return state

    def metrics(self) -> dict:
        """``n``, ``mae``, ``rmse``, ``r2``, ``mape``, ``mape_n`` and ``mean_error``.

        Every metric is None while the state is empty; ``r2`` is None until ``y_true`` varies
        and ``mape`` until some ``y_true`` is not 0.
        """
        n = self.n
        if n == 0:
            return dict.fromkeys(("mae", "rmse", "r2", "mape", "mean_error")) | {
                "n": 0,
                "mape_n": 0,
            }
        return {
            "n": n,
            "mae": self.abs_error_sum / n,
            "rmse": math.sqrt(self.sq_error_sum / n),
            "r2": 1.0 - self.sq_error_sum / self.y_m2 if self.y_m2 > 0 else None,
            "mape": self.ape_sum / self.ape_n if self.ape_n else None,
            "mape_n": self.ape_n,
            "mean_error": self.error_sum / n,
        }
