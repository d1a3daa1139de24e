"""Statistics through the whole engine, checked against scipy/numpy on the raw values."""

from __future__ import annotations

import numpy as np
from scipy import stats as sps
from scipy.spatial.distance import jensenshannon

from monitor.synth import generate, reference_rows
from tests.helpers import config_for, engine_for, feed, jsonl, small_spec

SPEC = small_spec(n_numeric=4, seed=3)
N_REF = 50_000


def _windows(cfg, n):
    return feed(engine_for(SPEC, cfg, N_REF), cfg, jsonl(SPEC, n), 5000)


def test_ks_psi_js_match_scipy_on_raw_values():
    cfg = config_for(SPEC, window="10m")
    windows = _windows(cfg, 12_000)
    ref = reference_rows(SPEC, N_REF)
    events = generate(SPEC, 12_000)
    engine = engine_for(SPEC, cfg, N_REF)
    geo = engine.geometry(SPEC.model_id, "v1")
    for w in windows:
        rows = (events.timestamp >= w.start_ms) & (events.timestamp < w.end_ms)
        for j, name in enumerate(events.numeric_names):
            col = next(c for c in w.columns if c.feature == name)
            raw, raw_ref = events.numeric[rows, j], ref.numeric[:, j]
            exact = sps.ks_2samp(raw_ref, raw).statistic
            assert abs(col.statistics["ks"] - exact) <= col.statistics["ks_error_bound"] + 1e-12
            assert col.statistics["ks_error_bound"] <= 0.002
            # PSI and JS on the same coarse bins, computed directly from raw values.
            prof = geo.reference.columns[name]
            bounds = prof.bin_edges[prof.coarse(10)[1:] - 1]
            p = (
                np.bincount(np.searchsorted(bounds, raw_ref, side="right"), minlength=10)
                / raw_ref.size
            )
            q = np.bincount(np.searchsorted(bounds, raw, side="right"), minlength=10) / raw.size
            pc, qc = np.clip(p, 1e-4, None), np.clip(q, 1e-4, None)
            assert np.isclose(
                col.statistics["psi"], np.sum((qc - pc) * np.log(qc / pc)), rtol=1e-9, atol=1e-12
            )
            assert np.isclose(
                col.statistics["js"], jensenshannon(p, q, base=2), rtol=1e-9, atol=1e-12
            )
            # Wasserstein (normalised by the reference std) within its bin-width bound.
            exact_w = sps.wasserstein_distance(raw_ref, raw) / raw_ref.std()
            width = np.diff(prof.edges).max() / prof.scale
            assert abs(col.statistics["wasserstein"] - exact_w) <= width + 1e-9
        # Categorical: chi-square of homogeneity on the raw contingency table.
        cat = next(c for c in w.columns if c.feature == "cat10")
        vocab = geo.reference.columns["cat10"].vocab
        ref_counts = [np.sum(ref.categorical[0] == v) for v in vocab]
        cur_counts = [np.sum(events.categorical[0][rows] == v) for v in vocab]
        table = np.array([ref_counts, cur_counts])
        table = table[:, table.sum(axis=0) > 0]
        expected = sps.chi2_contingency(table, correction=False)
        assert np.isclose(cat.statistics["chi2"], expected.statistic, rtol=1e-9)
        assert np.isclose(cat.statistics["chi2_pvalue"], expected.pvalue, rtol=1e-9, atol=1e-300)


def test_false_alarm_rate_without_drift_is_small():
    """No drift: the share of (window, feature) pairs flagged at default thresholds <= 2%."""
    cfg = config_for(SPEC, window="5m")  # 3000 events a window
    windows = _windows(cfg, 150_000)  # 50 windows x 5 features + score + prediction
    flags = [c.drift for w in windows for c in w.columns]
    assert len(windows) == 50
    assert np.mean(flags) <= 0.02, np.mean(flags)
