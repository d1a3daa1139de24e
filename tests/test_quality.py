"""Data quality judged against the reference: a rise in the missing rate (out-of-range share,
unseen share) that is significant for the window's size is flagged, not only an absolute level
(issue 12)."""

from __future__ import annotations

import json

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import fisher_exact, hypergeom

from monitor.config import ModelConfig
from monitor.drift import quality_verdicts
from monitor.stats.rise import rise_pvalue
from tests.helpers import config_for, engine_for, feed, jsonl, small_spec

SPEC = small_spec(n_numeric=3, seed=5, interval_ms=60)  # 10,000 events in a 10-minute window
MODEL = ModelConfig.model_validate({"features": {"x": {"kind": "numeric"}}})


def _with_missing(data: bytes, feature: str, rows: np.ndarray) -> bytes:
    lines = data.splitlines()
    for i in rows.tolist():
        event = json.loads(lines[i])
        event["features"][feature] = None
        lines[i] = json.dumps(event).encode()
    return b"\n".join(lines) + b"\n"


def test_zero_to_4_9_percent_missing_over_10000_events_is_flagged():
    """The reference has no missing num_01; the second window misses 4.9% of it: below the
    absolute 5% threshold, but certain for 10,000 events."""
    cfg = config_for(SPEC, window="10m")
    data = jsonl(SPEC, 20_000)
    rows = 10_000 + np.random.default_rng(0).choice(10_000, 490, replace=False)
    windows = feed(engine_for(SPEC, cfg), cfg, _with_missing(data, "num_01", rows), 2000)
    assert [w.dataset.events for w in windows] == [10_000, 10_000]
    before, after = (next(c for c in w.columns if c.feature == "num_01") for w in windows)
    assert before.severity == "ok" and before.quality["missing_rate"] == 0.0
    assert after.quality["missing_rate"] == 0.049 and after.quality["missing_rate_change"] < 0.05
    assert after.severity == "warning" and after.quality["severity"] == "warning"
    assert after.decided_by["statistic"] == "missing_rate_pvalue"
    assert after.decided_by["value"] < 1e-100 and after.decided_by["threshold"] == 0.001
    assert not after.drift  # a quality verdict, not drift
    others = [c for c in windows[1].columns if c.feature != "num_01"]
    assert all(c.quality["severity"] == "ok" for c in others)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 5000), st.integers(0, 5000), st.integers(1, 5000), st.integers(0, 5000))
def test_rise_pvalue_is_fishers_exact_test(n_ref, k_ref, n_cur, k_cur):
    k_ref, k_cur = min(k_ref, n_ref), min(k_cur, n_cur)
    expected = fisher_exact([[k_cur, n_cur - k_cur], [k_ref, n_ref - k_ref]], "greater").pvalue
    got = float(rise_pvalue(k_ref, n_ref, k_cur, n_cur))
    assert np.isclose(got, expected, rtol=1e-9, atol=1e-12)


@settings(max_examples=300, deadline=None)
@given(
    st.integers(1, 2_000_000),
    st.floats(0, 1),
    st.integers(1, 2_000_000),
    st.floats(0, 1),
    st.integers(-50, 50),
)
def test_rise_pvalue_is_scipys_hypergeometric_tail_at_millions_of_rows(
    n_ref, ref_rate, n_cur, cur_rate, nudge
):
    """Windows and references of millions of rows, rates from 0 to 1, the window's hits near the
    reference's rate (where the tail is neither 0 nor 1): within 1e-9 of scipy."""
    k_ref = round(n_ref * ref_rate)
    k_cur = min(n_cur, max(0, round(n_cur * (ref_rate if nudge % 2 else cur_rate)) + nudge))
    expected = hypergeom.sf(k_cur - 1, n_ref + n_cur, k_ref + k_cur, n_cur) if k_cur else 1.0
    got = float(rise_pvalue(k_ref, n_ref, k_cur, n_cur))
    assert np.isclose(got, expected, rtol=1e-9, atol=1e-300)


def _flagged(
    rng: np.random.Generator, rate: float, n_ref: int, sizes: np.ndarray, shift: float
) -> np.ndarray:
    """Which windows of ``sizes`` events are flagged when the reference's ``n_ref`` rows and
    the windows draw their misses at ``rate`` and ``rate + shift``."""
    k_ref = rng.binomial(n_ref, rate)
    k_cur = rng.binomial(sizes, rate + shift)
    pvalues = rise_pvalue(k_ref, n_ref, k_cur, sizes)
    change = k_cur / sizes - k_ref / n_ref
    levels = []
    for c, p in zip(change.tolist(), pvalues.tolist()):
        verdicts = quality_verdicts(MODEL, {"missing_rate_change": c, "missing_rate_pvalue": p})
        levels.append(any(v["severity"] != "ok" for v in verdicts if v is not None))
    return np.array(levels)


def test_false_alarms_without_a_change_stay_rare():
    """No change: the reference and the windows share one rate. Over 4 rates, 2 reference sizes
    and 2,000 windows each of 100 to 50,000 events, at most 1% of windows are flagged."""
    rng = np.random.default_rng(12)
    flags = []
    for rate in (0.0, 0.001, 0.02, 0.1):
        for n_ref in (2_000, 50_000):
            sizes = np.exp(rng.uniform(np.log(100), np.log(50_000), 2000)).astype(np.int64)
            flags.append(_flagged(rng, rate, n_ref, sizes, 0.0))
    share = np.concatenate(flags).mean()
    assert share <= 0.01, share


def test_a_rise_of_two_points_is_caught_in_windows_of_5000():
    """Power: 2% -> 4% missing (below the absolute threshold) in windows of 5,000 events,
    against a 50,000-row reference, is flagged in nearly every window."""
    rng = np.random.default_rng(13)
    share = _flagged(rng, 0.02, 50_000, np.full(500, 5000), 0.02).mean()
    assert share >= 0.99, share
