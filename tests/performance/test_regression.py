"""RegressionState against scikit-learn on the same pairs."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from sklearn import metrics as skm

from monitor.performance import RegressionState

from .samples import splits


def stream(seed: int, n: int, offset: float) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = offset + rng.normal(0.0, 1.0, n)
    return y, y + rng.normal(0.2, 0.5, n)


def fed(y: np.ndarray, p: np.ndarray, parts: int = 6) -> RegressionState:
    state = RegressionState()
    for part in splits(y.size, 0, parts):
        state.update(y[part], p[part])
    return state


@pytest.mark.parametrize("offset", [0.0, 50.0, 1e6])
def test_metrics_match_sklearn(offset):
    y, p = stream(1, 5000, offset)
    m = fed(y, p).metrics()
    assert m["n"] == 5000
    assert math.isclose(m["mae"], skm.mean_absolute_error(y, p), rel_tol=1e-9)
    assert math.isclose(m["rmse"], skm.root_mean_squared_error(y, p), rel_tol=1e-9)
    # With y near 1e6 +- 1, sums of y and y**2 would get R2 wrong in the fifth digit.
    assert math.isclose(m["r2"], skm.r2_score(y, p), rel_tol=1e-9, abs_tol=1e-9)
    assert math.isclose(m["mape"], skm.mean_absolute_percentage_error(y, p), rel_tol=1e-9)
    assert math.isclose(m["mean_error"], np.mean(p - y), rel_tol=1e-9, abs_tol=1e-12)


def test_mape_leaves_out_zero_labels():
    y, p = stream(2, 1000, 0.0)
    y[::7] = 0.0
    m = fed(y, p).metrics()
    nonzero = y != 0
    assert m["mape_n"] == nonzero.sum()
    assert math.isclose(
        m["mape"], skm.mean_absolute_percentage_error(y[nonzero], p[nonzero]), rel_tol=1e-9
    )
    assert math.isclose(m["mae"], skm.mean_absolute_error(y, p), rel_tol=1e-9)  # zeros count here


def test_undefined_metrics_are_none():
    state = RegressionState()
    state.update(np.zeros(3), np.ones(3))
    m = state.metrics()
    assert m["mae"] == 1.0 and m["r2"] is None and m["mape"] is None and m["mape_n"] == 0


def test_update_errors():
    state = RegressionState()
    message = "y_true and y_pred must be 1-d arrays of the same length, got shapes (2,) and (3,)"
    with pytest.raises(ValueError, match=re.escape(message)):
        state.update(np.zeros(2), np.zeros(3))
    with pytest.raises(ValueError, match="y_true and y_pred must be finite"):
        state.update(np.array([1.0, np.nan]), np.zeros(2))
    with pytest.raises(ValueError, match="y_true and y_pred must be finite"):
        state.update(np.zeros(2), np.array([np.inf, 0.0]))
    assert state == RegressionState()
