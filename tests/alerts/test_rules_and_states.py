"""The pure parts: the state machine on exact sequences, rule observations and levels, config
validation, grouping keys."""

from __future__ import annotations

import pytest

from monitor.alerts.notify import Notice, group_notices, idempotency_key
from monitor.alerts.rules import level_of, observe_values, observe_window
from monitor.alerts.state import AlertState, step
from monitor.config import RuleConfig, parse_config
from monitor.exceptions import ConfigError

from .conftest import window


def run(
    levels: list[str | None], for_: int = 1, resolve_after: int = 1
) -> list[tuple[str, str, str | None]]:
    s, out = AlertState(), []
    for level in levels:
        s, t = step(s, level, for_=for_, resolve_after=resolve_after)
        out.append((s.state, s.severity, t))
    return out


# -- the state machine
# ------------------------------------------------------------------------------
def test_for_one_fires_on_the_first_breach_and_resolves_on_the_first_normal_window():
    assert run(["ok", "warning", "ok", "ok"]) == [
        ("inactive", "ok", None),
        ("firing", "warning", "firing"),
        ("resolved", "warning", "resolved"),
        ("resolved", "warning", None),
    ]


def test_for_three_needs_three_consecutive_breaches_and_a_gap_starts_over():
    assert [
        t
        for _, _, t in run(["warning", "warning", "ok", "warning", "critical", "critical"], for_=3)
    ] == ["pending", None, "inactive", "pending", None, "firing"]


def test_resolve_after_needs_consecutive_normal_windows_and_a_breach_resets_the_count():
    states = run(["critical", "ok", "critical", "ok", "ok"], resolve_after=2)
    assert [s for s, _, _ in states] == ["firing", "firing", "firing", "firing", "resolved"]
    assert states[-1] == ("resolved", "critical", "resolved")


def test_severity_follows_breaches_while_firing_and_a_normal_window_keeps_it():
    assert [
        (sev, t)
        for _, sev, t in run(["warning", "critical", "warning", "ok", "ok"], resolve_after=2)
    ] == [
        ("warning", "firing"),
        ("critical", "escalated"),
        ("warning", "deescalated"),
        ("warning", None),
        ("warning", "resolved"),
    ]


def test_a_window_without_a_value_changes_nothing():
    assert run(["warning", None, None, "ok"], for_=2) == [
        ("pending", "warning", "pending"),
        ("pending", "warning", None),
        ("pending", "warning", None),
        ("inactive", "ok", "inactive"),
    ]


def test_a_resolved_alert_breaching_again_goes_through_pending():
    assert [
        t for _, _, t in run(["critical", "critical", "ok", "critical", "critical"], for_=2)
    ] == ["pending", "firing", "resolved", "pending", "firing"]


# -- rules
# ------------------------------------------------------------------------------------------
def rule(**kw) -> RuleConfig:
    return RuleConfig.model_validate({"name": "r", **kw})


def test_levels_follow_the_comparison():
    psi = rule(kind="feature_drift", warning=0.1, critical=0.25)
    assert [level_of(psi, v) for v in (0.05, 0.1, 0.25, float("nan"))] == [
        "ok",
        "warning",
        "critical",
        None,
    ]
    pvalue = rule(kind="feature_drift", statistic="ks_pvalue", warning=0.05, critical=0.01)
    assert pvalue.comparison == "<=" and level_of(pvalue, 0.001) == "critical"
    only_critical = rule(kind="feature_drift", critical=0.3, comparison=">")
    assert [level_of(only_critical, v) for v in (0.3, 0.31)] == ["ok", "critical"]


def test_feature_rules_observe_each_column_and_skip_prediction_columns():
    w = window(0, {"amount": 0.3, "country": 0.0, "score": 0.5})
    obs = observe_window(rule(kind="feature_drift", critical=0.25), w)
    assert [(o.subject, o.value) for o in obs] == [("amount", 0.3), ("country", 0.0)]
    pred = observe_window(rule(kind="prediction_drift", critical=0.25), w)
    assert [(o.subject, o.value) for o in pred] == [("score", 0.5)]
    one = observe_window(
        rule(kind="feature_drift", features=["country"], statistic="ks", critical=0.1), w
    )
    assert [(o.subject, o.value) for o in one] == [("country", 0.0)]


def test_drift_is_not_judged_on_baseline_windows_but_quality_is():
    w = window(0, {"amount": 0.9}, missing={"amount": 1.0}, baseline=True)
    assert observe_window(rule(kind="feature_drift", critical=0.25), w)[0].value is None
    assert observe_window(rule(kind="data_quality", critical=0.5), w)[0].value == 1.0


def test_dataset_drift_observes_the_share_with_the_drifted_features_as_evidence():
    w = window(0, {"amount": 0.3, "country": 0.2, "tenure": 0.0, "x": 0.0})
    [obs] = observe_window(rule(kind="dataset_drift", critical=0.1), w)
    assert obs.subject == "" and obs.value == 0.5
    assert obs.evidence["features"] == ["amount", "country"]
    assert set(obs.evidence["statistics"]) == {"amount", "country"}


def test_values_rules_compare_values_or_changes_from_a_baseline():
    values = {"accuracy": 0.8, "reference": {"accuracy": 0.9}, "label_coverage": 0.2}
    assert (
        observe_values(rule(kind="performance", metric="accuracy", critical=0.85), values)[0].value
        == 0.8
    )
    drop = rule(
        kind="performance",
        metric="accuracy",
        compare="drop",
        baseline="reference.accuracy",
        critical=0.05,
    )
    assert observe_values(drop, values)[0].value == pytest.approx(0.1)
    fixed = rule(
        kind="performance", metric="accuracy", compare="relative_drop", baseline=0.95, critical=0.1
    )
    assert observe_values(fixed, values)[0].value == pytest.approx(0.15 / 0.95)
    assert (
        observe_values(rule(kind="performance", metric="f1", critical=0.5), values)[0].value is None
    )


# -- config
# -----------------------------------------------------------------------------------------
def cfg(rules: list, **alerts) -> None:
    parse_config(
        {
            "models": {"m": {"features": {"x": {"kind": "numeric"}}, "rules": rules}},
            "alerts": alerts,
        }
    )


@pytest.mark.parametrize(
    ("rules", "alerts", "key"),
    [
        ([{"name": "a", "kind": "feature_drift"}], {}, "models.m.rules.0.warning"),
        ([{"name": "a", "kind": "performance", "critical": 0.8}], {}, "models.m.rules.0.statistic"),
        (
            [{"name": "a", "kind": "feature_drift", "critical": 0.1, "features": ["y"]}],
            {},
            "models.m.rules.0.features",
        ),
        (
            [{"name": "a", "kind": "dataset_drift", "critical": 0.1, "features": ["x"]}],
            {},
            "models.m.rules.0.features",
        ),
        (
            [{"name": "a", "kind": "feature_drift", "warning": 0.3, "critical": 0.1}],
            {},
            "models.m.rules.0.critical",
        ),
        (
            [{"name": "a", "kind": "feature_drift", "critical": 0.1}] * 2,
            {},
            "models.m.rules.1.name",
        ),
        (
            [
                {
                    "name": "a",
                    "kind": "feature_drift",
                    "critical": 0.1,
                    "sinks": {"critical": ["nope"]},
                }
            ],
            {},
            "models.m.rules.0.sinks.critical",
        ),
        ([], {"routes": {"warning": ["nope"]}}, "alerts.routes.warning"),
        (
            [
                {
                    "name": "a",
                    "kind": "performance",
                    "metric": "acc",
                    "compare": "drop",
                    "critical": 0.1,
                }
            ],
            {},
            "models.m.rules.0.baseline",
        ),
        (
            [{"name": "a", "kind": "pipeline_health", "critical": "soon"}],
            {},
            "models.m.rules.0.critical",
        ),
        (
            [{"name": "a", "kind": "feature_drift", "critical": 0.1, "for": 0}],
            {},
            "models.m.rules.0.for",
        ),
    ],
)
def test_invalid_alert_config_names_the_key(rules, alerts, key):
    with pytest.raises(ConfigError) as err:
        cfg(rules, **alerts)
    assert err.value.key == key, str(err.value)


def test_sinks_keep_secrets_out_of_their_repr(monkeypatch):
    monkeypatch.setenv("HOOK_URL", "https://hooks.example.com/T000/B000/s3cr3tpath")
    config = parse_config(
        {
            "models": {"m": {"features": {"x": {"kind": "numeric"}}}},
            "alerts": {"sinks": {"slack": {"type": "slack", "url": "${HOOK_URL}"}}},
        }
    )
    assert "s3cr3tpath" not in repr(config) and "s3cr3tpath" not in str(config.alerts)
    assert config.alerts.sinks["slack"].url.get_secret_value().endswith("s3cr3tpath")


def test_pipeline_health_thresholds_are_durations_in_seconds():
    r = rule(kind="pipeline_health", warning="10m", critical="1h")
    assert (r.warning, r.critical, r.statistic, r.comparison) == (
        600.0,
        3600.0,
        "silence_seconds",
        ">=",
    )


# -- grouping
# ---------------------------------------------------------------------------------------
def notice(
    subject: str, sinks=("slack",), state="firing", severity="critical", silenced=False
) -> Notice:
    return Notice(
        "drift", "feature_drift", subject, state, severity, "psi", ">=", 0.4, 0.25, sinks, silenced
    )


def test_one_message_per_sink_listing_every_feature():
    groups = group_notices(
        "m",
        "v1",
        0,
        60_000,
        [notice("a"), notice("b", ("slack", "hook")), notice("c", silenced=True)],
    )
    assert [(s, silenced, [a["feature"] for a in p["alerts"]]) for s, silenced, _, p in groups] == [
        ("hook", False, ["b"]),
        ("slack", False, ["a", "b"]),
        ("slack", True, ["c"]),
    ]
    assert len({key for _, _, key, _ in groups}) == 3


def test_keys_depend_on_the_members_not_their_order():
    a = idempotency_key(
        "m",
        "v1",
        1,
        "s",
        [("r", "a", "firing", "critical", None), ("r", "b", "firing", "critical", None)],
    )
    b = idempotency_key(
        "m",
        "v1",
        1,
        "s",
        [("r", "b", "firing", "critical", None), ("r", "a", "firing", "critical", None)],
    )
    c = idempotency_key(
        "m",
        "v1",
        1,
        "s",
        [("r", "a", "resolved", "critical", None), ("r", "b", "firing", "critical", None)],
    )
    assert a == b != c
