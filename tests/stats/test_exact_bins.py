"""Low-cardinality integer features get exact bins (one bin holding each value alone, one for
each gap): KS equals scipy's on the raw values, with an error bound of 0 (issue 12: a count
feature had a bound of 0.22)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import ks_2samp

from monitor.config import parse_config
from monitor.drift import evaluate
from monitor.events import EventDecoder
from monitor.layout import Layout
from monitor.reference import NumericProfile, ReferenceProfile
from monitor.sketches import Geometry
from monitor.sketches.sketch import accumulate

MODEL = {
    "features": {"n_tx_24h": {"kind": "numeric"}},
    "min_events": 0,
    "prediction": "none",
    "score": False,
}


def _window_ks(reference: np.ndarray, window: np.ndarray, exact_max_values: int = 50):
    cfg = parse_config(
        {"models": {"m": {**MODEL, "reference": {"exact_bins_max_values": exact_max_values}}}}
    )
    model = cfg.models["m"]
    layout = Layout.from_model(model)
    ref = ReferenceProfile.for_model("m", "1", model, {"n_tx_24h": reference})
    geo = Geometry.build(layout, ref)
    lines = b"".join(
        b'{"model_id":"m","model_version":"1","prediction_id":"p%d","timestamp":0,'
        b'"features":{"n_tx_24h":%r}}\n' % (i, v)
        for i, v in enumerate(window.tolist())
    )
    batch = EventDecoder(cfg).decode_lines(lines).batches["m"]
    (sketch,) = accumulate(geo, batch, np.zeros(len(batch), np.int64), 1)
    (col,), _ = evaluate(model, geo, sketch)
    return col.statistics


@settings(max_examples=60, deadline=None)
@given(
    st.floats(0.2, 12.0),
    st.floats(0.2, 12.0),
    st.integers(50, 4000),
    st.integers(20, 4000),
    st.integers(0, 2**32 - 1),
)
def test_ks_on_a_count_feature_equals_scipy_on_raw_values(lam_ref, lam_cur, n_ref, n_cur, seed):
    rng = np.random.default_rng(seed)
    reference = rng.poisson(lam_ref, n_ref).astype(float)
    window = rng.poisson(lam_cur, n_cur).astype(float)
    if rng.random() < 0.3:  # values the reference never had, between and beyond its own
        window[: n_cur // 10] += rng.choice([0.5, -0.25, 100.0], n_cur // 10)
    stats = _window_ks(reference, window)
    assert stats["ks_error_bound"] == 0.0
    assert abs(stats["ks"] - ks_2samp(reference, window).statistic) <= 1e-12


def test_the_reported_count_feature_bound_drops_from_0_22_to_0():
    rng = np.random.default_rng(1)
    reference, window = rng.poisson(3.0, 50_000).astype(float), rng.poisson(3.4, 5000).astype(float)
    exact = _window_ks(reference, window)
    quantile = _window_ks(reference, window, exact_max_values=0)  # the old bins
    assert exact["ks_error_bound"] == 0.0 and quantile["ks_error_bound"] > 0.002
    assert abs(exact["ks"] - ks_2samp(reference, window).statistic) <= 1e-12


def test_only_integer_columns_with_few_values_get_exact_bins():
    counts = np.arange(50.0).repeat(3)
    exact = NumericProfile.build("n", counts, fine_bins=1000, exact_max_values=50)
    assert exact.inner_bins == 2 * 50 - 1  # 50 values, 49 gaps
    assert np.array_equal(exact.edges[::2], np.arange(50.0))
    assert NumericProfile.build("n", np.arange(51.0), 1000, 50).inner_bins == 1000  # quantiles
    assert NumericProfile.build("x", counts + 0.5, 1000, 50).inner_bins != 99  # not integers
    restored = NumericProfile.from_payload("n", exact.to_payload())
    assert np.array_equal(restored.bin_edges, exact.bin_edges)
