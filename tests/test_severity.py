"""Severity is explained: every column names the verdict that decided it (``decided_by``), the
window's severity and an alert rule's level follow the same rule, and the verdict reaches the
store, ``monitor windows`` and every printed drift line (issue 12)."""

from __future__ import annotations

import pytest

from monitor.alerts.rules import level_of, observe_window
from monitor.config import RuleConfig, Threshold
from monitor.drift import SEVERITIES, ColumnResult, decide, severity_of, verdict
from monitor.engine import EngineState
from monitor.format import column_marks, window_json, window_lines, window_status
from monitor.service import show
from monitor.synth import DriftSpec
from tests.helpers import checkpoint, config_for, engine_for, feed, jsonl, small_spec

SPEC = small_spec(
    n_numeric=3, drift=(DriftSpec("num_01", 1.0, 9000), DriftSpec("cat10", 0.3, 9000))
)
PSI = Threshold(warning=0.1, critical=0.25)
WASSERSTEIN = Threshold(warning=0.2, critical=0.4)


@pytest.fixture(scope="module")
def windows():
    cfg = config_for(SPEC, window="5m", compare_previous=True)
    return cfg, feed(engine_for(SPEC, cfg), cfg, jsonl(SPEC, 18_000), 3000)


def test_the_reported_case_names_wasserstein_not_psi():
    """`amount (critical, psi=0.112)`: PSI said warning, Wasserstein 0.44 >= 0.4 decided."""
    decided = decide([verdict("psi", 0.112, PSI), verdict("wasserstein", 0.44, WASSERSTEIN)])
    assert decided == {
        "statistic": "wasserstein",
        "value": 0.44,
        "threshold": 0.4,
        "severity": "critical",
    }
    col = ColumnResult(
        "amount",
        "numeric",
        5000,
        0,
        {"psi": 0.112, "wasserstein": 0.44},
        {},
        True,
        "critical",
        decided_by=decided,
    )
    assert column_marks([col]) == "amount (critical: wasserstein=0.44 >= 0.4)"
    assert window_status([col]) == "DRIFT: amount (critical: wasserstein=0.44 >= 0.4)"


def test_among_equal_severities_the_furthest_past_its_threshold_decides():
    # psi 0.3 is 1.2x its critical threshold, ks 0.5 is 2.5x its own: ks decides
    ks = Threshold(warning=0.1, critical=0.2)
    assert decide([verdict("psi", 0.3, PSI), verdict("ks", 0.5, ks)])["statistic"] == "ks"
    # p-values: smaller is further past
    p = Threshold(warning=0.05, critical=0.01)
    assert (
        decide([verdict("ks_pvalue", 0.009, p), verdict("chi2_pvalue", 1e-6, p)])["statistic"]
        == "chi2_pvalue"
    )
    # ok: the nearest to its warning threshold; nothing judged: None
    assert (
        decide([verdict("psi", 0.05, PSI), verdict("wasserstein", 0.19, WASSERSTEIN)])["statistic"]
        == "wasserstein"
    )
    assert decide([verdict("psi", None, PSI), verdict("chi2", 3.0, None)]) is None


def test_a_column_severity_is_its_worst_verdict_and_decided_by_names_it(windows):
    cfg, closed = windows
    model = cfg.models[SPEC.model_id]
    drifted = 0
    for w in closed:
        for c in w.columns:
            assert c.decided_by is not None
            assert c.severity == c.decided_by["severity"]
            judged = [severity_of(s, v, model.threshold(s)) for s, v in c.statistics.items()]
            judged += [severity_of(s, v, model.threshold(s)) for s, v in (c.previous or {}).items()]
            assert SEVERITIES.index(c.severity) >= max(map(SEVERITIES.index, judged))
            if c.drift:
                drifted += 1
                assert max(judged, key=SEVERITIES.index) == c.severity
    assert drifted >= 4  # num_01 and cat10 in the two windows after the shift


def test_an_alert_rule_on_the_deciding_statistic_gives_the_window_severity(windows):
    """One rule: a rule naming decided_by's statistic with the model's thresholds says what the
    window says; a rule on another statistic says what that statistic says, and its evidence
    carries the window's verdict."""
    cfg, closed = windows
    model = cfg.models[SPEC.model_id]
    checked = 0
    for w in closed:
        for c in (c for c in w.columns if c.drift):
            stat = c.decided_by["statistic"]
            t = model.threshold(stat.removeprefix("previous."))
            kind = "prediction_drift" if c.feature in ("score", "prediction") else "feature_drift"
            rule = RuleConfig.model_validate(
                {
                    "name": "r",
                    "kind": kind,
                    "statistic": stat,
                    "features": [c.feature],
                    "warning": t.warning,
                    "critical": t.critical,
                }
            )
            (obs,) = observe_window(rule, w)
            assert level_of(rule, obs.value) == c.severity
            assert obs.evidence["decided_by"] == c.decided_by
            checked += 1
    assert checked >= 4


def test_every_drift_line_names_the_deciding_statistic(windows, capsys):
    _, closed = windows
    drifted = [w for w in closed if any(c.drift for c in w.columns)]
    show(drifted)
    printed = capsys.readouterr().out.splitlines()
    for w, line in zip(drifted, (x for x in printed if x.startswith("window "))):
        for c in (c for c in w.columns if c.severity != "ok"):
            mark = f"{c.feature} ({c.severity}: {c.decided_by['statistic']}="
            assert mark in line and mark in window_lines(w)[0]


def test_decided_by_is_stored_and_in_the_windows_json(store, windows):
    _, closed = windows
    checkpoint(store, "job", EngineState(windows=closed))
    rows = store.windows(SPEC.model_id)
    assert len(rows) == sum(len(w.columns) for w in closed)
    expected = {(w.start_ms, c.feature): c.decided_by for w in closed for c in w.columns}
    for row in rows:
        got = window_json(row)["decided_by"]
        want = expected[row["window_start"], row["feature"]]
        assert got.keys() == want.keys() == {"statistic", "value", "threshold", "severity"}
        assert got["statistic"] == want["statistic"] and got["severity"] == want["severity"]
        assert got["value"] == pytest.approx(want["value"], rel=1e-12)
