"""Prometheus config, recording and alert rules: promtool checks them and runs their unit tests."""

from __future__ import annotations

from pathlib import Path

import yaml
from obs_helpers import DEPLOY, run

PROM = DEPLOY / "prometheus"
RULE_FILES = sorted((PROM / "rules").glob("*.yml"))
TEST_FILES = sorted((PROM / "tests").glob("*.yml"))


def load(path: Path) -> dict:
    return dict(yaml.safe_load(path.read_text()))


def rules(kind: str) -> list[dict]:
    return [r for f in RULE_FILES for g in load(f)["groups"] for r in g["rules"] if kind in r]


def test_config_is_valid(promtool: str) -> None:
    done = run([promtool, "check", "config", "prometheus.yml"], cwd=PROM)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 rule files found" in done.stdout


def test_rules_are_valid(promtool: str) -> None:
    done = run([promtool, "check", "rules", *map(str, RULE_FILES)])
    assert done.returncode == 0, done.stdout + done.stderr


def test_rule_unit_tests_pass(promtool: str) -> None:
    assert TEST_FILES
    done = run([promtool, "test", "rules", *(str(p.relative_to(PROM)) for p in TEST_FILES)], cwd=PROM)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_alert_has_a_firing_case_and_a_quiet_one() -> None:
    firing: set[str] = set()
    quiet: set[str] = set()
    for f in TEST_FILES:
        for case in load(f)["tests"]:
            for check in case.get("alert_rule_test", []):
                (firing if check.get("exp_alerts") else quiet).add(check["alertname"])
    alerts = {r["alert"] for r in rules("alert")}
    assert alerts - firing == set(), "alerts without a test where they fire"
    # Most alerts also have a case where they must stay quiet; these are the ones that must.
    must_be_quiet = {"RqueuesBacklogGrowing", "RqueuesBacklogGrowingLimitBound", "RqueuesNoConsumer"}
    assert must_be_quiet - quiet == set()


def test_alerts_carry_severity_and_text() -> None:
    for rule in rules("alert"):
        assert rule["labels"]["severity"] in ("info", "warning", "critical"), rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]
        assert rule["alert"].startswith("Rqueues"), rule["alert"]


def test_recorded_names_follow_the_convention() -> None:
    for rule in rules("record"):
        level, metric, operation = rule["record"].split(":")
        assert level in ("queue", "instance") and metric.startswith("rqueues_") and operation, rule["record"]
