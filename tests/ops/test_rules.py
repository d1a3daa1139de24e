"""The Prometheus alert rules: promtool checks them and runs their unit tests."""

from __future__ import annotations

import subprocess

import yaml

from tests.ops.conftest import RULES, need


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [need("promtool"), *args],
        check=False,
        capture_output=True,
        text=True,
        cwd=RULES.parent,
        timeout=60,
    )


def test_rules_pass_promtool_check():
    result = promtool("check", "rules", RULES.name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 13 rules found" in result.stdout


def test_rules_unit_tests_pass():
    result = promtool("test", "rules", "rules_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_rule_is_unit_tested_and_described():
    rules = [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]
    tests = yaml.safe_load((RULES.parent / "rules_test.yml").read_text())["tests"]
    tested = {
        t["alertname"] for case in tests for t in case["alert_rule_test"] if t.get("exp_alerts")
    }
    assert {r["alert"] for r in rules} == tested
    for r in rules:
        assert r["labels"]["severity"] in ("info", "warning", "critical")
        assert {"summary", "description"} <= r["annotations"].keys()
        assert "monitor_" in r["expr"] or r["alert"] == "MonitorDown"
