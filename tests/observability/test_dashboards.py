"""Grafana dashboards: structure, PromQL that parses, and metric names that rqueues really exposes."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml
from obs_helpers import DEPLOY, GRAFANA, run

DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
RULE_FILES = sorted((DEPLOY / "prometheus" / "rules").glob("*.yml"))
DS = {"type": "prometheus", "uid": "${datasource}"}
BUILTIN_VARS = {"__rate_interval": "5m", "__interval": "1m", "__range": "1h"}
_VAR = re.compile(r"\$\{?(\w+)\}?")


def load(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text()))


def panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for p in board["panels"]:
        out.append(p)
        out.extend(p.get("panels", []))  # collapsed rows hold their panels
    return [p for p in out if p["type"] != "row"]


def variable_names(board: dict[str, Any]) -> set[str]:
    return {v["name"] for v in board["templating"]["list"]}


def expressions(board: dict[str, Any]) -> list[tuple[str, str]]:
    """(where, PromQL) for every panel target and every variable query of a dashboard."""
    found = [(f"panel {p['title']!r}", t["expr"]) for p in panels(board) for t in p["targets"]]
    for v in board["templating"]["list"]:
        if v["type"] == "query":
            m = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", v["query"])
            assert m, f"variable {v['name']}: expected label_values(selector, label), got {v['query']!r}"
            found.append((f"variable {v['name']!r}", m.group(1)))
    return found


def concrete(expr: str) -> str:
    """The expression as Prometheus would receive it once Grafana fills in the variables."""
    return _VAR.sub(lambda m: BUILTIN_VARS.get(m.group(1), "x"), expr)


def selector_names(expr: str) -> set[str]:
    names: set[str] = set()

    def visit(node: Any) -> bool:
        if isinstance(node, promql_parser.VectorSelector) and node.name:
            names.add(node.name)
        return True

    promql_parser.walk(promql_parser.parse(expr), visit)
    return names


def rule_list() -> list[dict[str, Any]]:
    return [r for f in RULE_FILES for g in yaml.safe_load(f.read_text())["groups"] for r in g["rules"]]


RECORDED = {r["record"] for r in rule_list() if "record" in r}


def test_dashboards_match_their_generator() -> None:
    spec = importlib.util.spec_from_file_location("grafana_generate", GRAFANA / "generate.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert sorted(module.DASHBOARDS) == [p.name for p in DASHBOARDS]
    for path in DASHBOARDS:
        assert path.read_text() == module.render(module.DASHBOARDS[path.name]), (
            f"{path.name} differs from grafana/generate.py: run `python grafana/generate.py`"
        )


def test_uids_and_panel_ids_are_unique() -> None:
    boards = [load(p) for p in DASHBOARDS]
    assert len(boards) == 3
    uids = [b["uid"] for b in boards]
    assert len(set(uids)) == len(uids) and all(uids)
    for board in boards:
        ids = [p["id"] for p in panels(board)]
        assert len(set(ids)) == len(ids), board["uid"]
        for p in panels(board):
            refs = [t["refId"] for t in p["targets"]]
            assert len(set(refs)) == len(refs), (board["uid"], p["title"])


def test_panels_do_not_overlap() -> None:
    for path in DASHBOARDS:
        taken: set[tuple[int, int]] = set()
        for p in panels(load(path)):
            g = p["gridPos"]
            assert g["x"] + g["w"] <= 24, (path.name, p["title"])
            cells = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
            assert not cells & taken, (path.name, p["title"])
            taken |= cells


def test_datasource_variable_is_used_everywhere() -> None:
    for path in DASHBOARDS:
        board = load(path)
        variables = {v["name"]: v for v in board["templating"]["list"]}
        assert variables["datasource"]["type"] == "datasource"
        assert variables["datasource"]["query"] == "prometheus"
        for v in variables.values():
            if v["type"] == "query":
                assert v["datasource"] == DS, (path.name, v["name"])
        for p in panels(board):
            assert p["datasource"] == DS, (path.name, p["title"])
            assert p["targets"], (path.name, p["title"])
            for t in p["targets"]:
                assert t["datasource"] == DS, (path.name, p["title"])


def test_queue_and_job_variables_exist_and_every_variable_used_is_defined() -> None:
    for path in DASHBOARDS:
        board = load(path)
        names = variable_names(board)
        assert {"datasource", "job", "queue"} <= names, path.name
        for where, expr in expressions(board):
            used = set(_VAR.findall(expr)) - set(BUILTIN_VARS)
            assert used <= names, (path.name, where, used - names)
            if "rqueues_" in expr and "{" in expr:
                assert 'job=~"$job"' in expr, (path.name, where, "panel ignores the job variable")


def test_every_panel_has_a_unit() -> None:
    for path in DASHBOARDS:
        for p in panels(load(path)):
            unit = p["fieldConfig"]["defaults"].get("unit")
            assert isinstance(unit, str) and unit, (path.name, p["title"])
            assert p.get("description"), (path.name, p["title"])


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_every_expression_parses(path: Path) -> None:
    for where, expr in expressions(load(path)):
        try:
            promql_parser.parse(concrete(expr))
        except Exception as exc:  # the parser raises its own error types
            pytest.fail(f"{path.name}, {where}: {exc}\n{expr}")


def test_promtool_parses_every_dashboard_expression(promtool: str, tmp_path: Path) -> None:
    """Prometheus' own parser, through a rules file holding every expression as a recording rule."""
    exprs = [concrete(e) for p in DASHBOARDS for _, e in expressions(load(p)) if "(" in e or "{" in e]
    rules = [{"record": f"dashboard_expr_{i}", "expr": e} for i, e in enumerate(exprs)]
    path = tmp_path / "dashboards.rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    done = run([promtool, "check", "rules", str(path)])
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{len(rules)} rules found" in done.stdout


def test_every_metric_named_exists_in_the_exposition(exposed_names: set[str]) -> None:
    """A renamed metric breaks this: dashboards and rules may only name what rqueues exposes."""
    missing: dict[str, set[str]] = {}
    for path in DASHBOARDS:
        for where, expr in expressions(load(path)):
            unknown = selector_names(concrete(expr)) - exposed_names - RECORDED
            if unknown:
                missing[f"{path.name} {where}"] = unknown
    for rule in rule_list():
        unknown = selector_names(rule["expr"]) - exposed_names - RECORDED
        if unknown:
            missing[f"rule {rule.get('record') or rule.get('alert')}"] = unknown
    assert missing == {}


def test_the_exposition_holds_the_key_series(exposed_names: set[str]) -> None:
    """Guards the check above against an exposition that lost whole families."""
    for name in (
        "rqueues_jobs_started_total",
        "rqueues_jobs_completed_total",
        "rqueues_job_wait_seconds_bucket",
        "rqueues_job_run_seconds_bucket",
        "rqueues_acquires_denied_total",
        "rqueues_queue_waiting",
        "rqueues_queue_wait_seconds_bucket",
        "rqueues_queue_rate_limit_per_second",
        "rqueues_reaper_last_run_age_seconds",
        "rqueues_reaper_reclaimed_total",
        "rqueues_cluster_worker_info",
        "rqueues_worker_busy_slots",
        "rqueues_worker_child_restarts_total",
        "rqueues_job_timeouts_total",
        "rqueues_job_memory_kills_total",
        "rqueues_queue_timeouts_total",
        "rqueues_queue_memory_kills_total",
        "process_cpu_seconds_total",
    ):
        assert name in exposed_names, name


def test_recorded_series_used_by_dashboards_are_defined() -> None:
    used = {
        n
        for p in DASHBOARDS
        for _, e in expressions(load(p))
        for n in selector_names(concrete(e))
        if ":" in n
    }
    assert used and used <= RECORDED


def test_provisioning_loads_the_dashboards_in_a_stock_grafana() -> None:
    datasources = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "rqueues.yaml").read_text())
    providers = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "rqueues.yaml").read_text())
    assert datasources["apiVersion"] == 1 and providers["apiVersion"] == 1
    assert [d["type"] for d in datasources["datasources"]] == ["prometheus"]
    (provider,) = providers["providers"]
    assert provider["type"] == "file"
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    mounts = dict(v.split(":")[:2] for v in compose["services"]["grafana"]["volumes"])
    assert mounts["../grafana/dashboards"] == provider["options"]["path"]
    assert mounts["../grafana/provisioning"] == "/etc/grafana/provisioning"
    home = compose["services"]["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home.startswith(provider["options"]["path"] + "/")
    assert (GRAFANA / "dashboards" / Path(home).name).exists()
