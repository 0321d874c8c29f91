"""Deploy files against their schemas, and against the CLI they start."""

from __future__ import annotations

import copy
import json
import re
import shlex
import shutil
from pathlib import Path
from typing import Any

import click
import kubernetes_validate
import pytest
import yaml
from check_jsonschema.cli import main as check_jsonschema
from obs_helpers import DEPLOY, NODE_TOOLS, ROOT, need_tool, run

from rqueues.backend.keys import GROUP, Keyspace
from rqueues.cli import main as rqueues_cli

BASE = DEPLOY / "kubernetes" / "base"
SYSTEMD = DEPLOY / "systemd"
K8S_VERSION = "1.30.0"
KEDA_PACKAGE = NODE_TOOLS / "node_modules" / "@kubernetes-models" / "keda"
# The redis-streams trigger's parameters, as KEDA documents them.
REDIS_STREAMS_KEYS = {
    "address", "addressFromEnv", "host", "hostFromEnv", "port", "portFromEnv", "usernameFromEnv",
    "passwordFromEnv", "stream", "consumerGroup", "pendingEntriesCount", "streamLength", "lagCount",
    "activationLagCount", "enableTLS", "unsafeSsl", "databaseIndex",
}  # fmt: skip


def manifests() -> list[dict[str, Any]]:
    """The kustomize base's resources as listed by its kustomization (no patches to apply)."""
    kustomization = yaml.safe_load((BASE / "kustomization.yaml").read_text())
    docs = []
    for name in kustomization["resources"]:
        docs += [d for d in yaml.safe_load_all((BASE / name).read_text()) if d]
    return docs


def of_kind(kind: str) -> list[dict[str, Any]]:
    return [d for d in manifests() if d["kind"] == kind]


def option_value(args: list[str], option: str) -> str:
    for i, arg in enumerate(args):
        if arg == option:
            return args[i + 1]
        if arg.startswith(option + "="):
            return arg.split("=", 1)[1]
    raise AssertionError(f"{option} not in {args}")


def parse_cli(args: list[str]) -> click.Context:
    """Parse ``rqueues ARGS`` with the real command, without running it; bad options raise."""
    parent = click.Context(rqueues_cli, info_name="rqueues")
    command = rqueues_cli.get_command(parent, args[0])
    assert command is not None, f"no command {args[0]!r}"
    return command.make_context(args[0], list(args[1:]), parent=parent)


# -- compose ----------------------------------------------------------------


@pytest.mark.parametrize("name", ["compose.yaml", "compose.gpu.yaml"])
def test_compose_files_follow_the_compose_spec(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = _check_jsonschema(["--builtin-schema", "vendor.compose-spec", str(DEPLOY / name)])
    assert code == 0, capsys.readouterr().out


def test_the_compose_check_catches_a_typo(tmp_path: Path) -> None:
    broken = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    broken["services"]["redis"]["comand"] = broken["services"]["redis"].pop("command")
    path = tmp_path / "compose.yaml"
    path.write_text(yaml.safe_dump(broken))
    assert _check_jsonschema(["--builtin-schema", "vendor.compose-spec", str(path)]) != 0


def test_compose_runs_redis_with_aof_and_workers_of_two_tag_sets() -> None:
    services = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]
    redis_args = services["redis"]["command"]
    assert option_value(redis_args, "--appendonly") == "yes"
    assert option_value(redis_args, "--appendfsync") == "everysec"
    tags = {option_value(services[s]["command"], "--tags") for s in ("worker-cpu", "worker-gpu")}
    assert tags == {"pool=cpu", "has=gpu"}
    assert {"exporter", "prometheus", "grafana"} <= set(services)
    for name in ("worker-cpu", "worker-gpu"):
        grace = int(services[name]["stop_grace_period"].rstrip("s"))
        assert grace > float(option_value(services[name]["command"], "--shutdown-timeout")), name


def test_compose_commands_parse_with_the_cli() -> None:
    services = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]
    for name in ("worker-cpu", "worker-gpu", "exporter"):
        parse_cli(services[name]["command"])
    for line in services["declare"]["command"][0].split("&&"):
        words = shlex.split(line)
        assert words[0] == "rqueues"
        parse_cli(words[1:])


def _check_jsonschema(args: list[str]) -> int:
    try:
        check_jsonschema(args)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


# -- kubernetes -------------------------------------------------------------


def test_the_kustomization_lists_every_manifest() -> None:
    listed = set(yaml.safe_load((BASE / "kustomization.yaml").read_text())["resources"])
    assert listed == {p.name for p in BASE.glob("*.yaml")} - {"kustomization.yaml"}


def test_kustomize_builds_the_base() -> None:
    kubectl = need_tool(
        "kubectl", "apt-get install -y kubectl (or any kubectl: `kubectl kustomize` is built in)"
    )
    done = run([kubectl, "kustomize", str(BASE)])
    assert done.returncode == 0, done.stderr
    built = [d for d in yaml.safe_load_all(done.stdout) if d]
    assert sorted(d["kind"] for d in built) == sorted(d["kind"] for d in manifests())
    assert all(d["metadata"]["labels"]["app.kubernetes.io/part-of"] == "rqueues" for d in built)


def test_core_manifests_follow_the_kubernetes_schemas() -> None:
    core = [d for d in manifests() if "keda.sh" not in d["apiVersion"]]
    assert {d["kind"] for d in core} == {"Namespace", "ConfigMap", "Deployment", "Service"}
    for doc in core:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    broken = copy.deepcopy(of_kind("Deployment")[0])
    broken["spec"]["template"]["spec"]["terminationGracePeriod"] = 30
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


def test_the_scaled_object_follows_the_keda_schema() -> None:
    node = need_tool("node", "apt-get install -y nodejs")
    if not KEDA_PACKAGE.exists():
        message = f"npm install --prefix {NODE_TOOLS} @kubernetes-models/keda@2.0.0"
        pytest.fail(message) if _in_ci() else pytest.skip(f"KEDA schemas not installed: {message}")
    script = str(Path(__file__).with_name("validate_keda.mjs"))
    objects = of_kind("ScaledObject")
    done = run([node, script, str(NODE_TOOLS)], stdin=json.dumps(objects))
    assert done.returncode == 0, done.stdout + done.stderr
    broken = copy.deepcopy(objects[0])
    broken["spec"]["minReplicaCount"] = "one"
    done = run([node, script, str(NODE_TOOLS)], stdin=json.dumps([broken]))
    assert done.returncode == 1 and "minReplicaCount" in done.stdout


def test_the_scaled_object_scales_on_the_group_lag_of_a_real_queue() -> None:
    (scaled,) = of_kind("ScaledObject")
    (trigger,) = scaled["spec"]["triggers"]
    meta = trigger["metadata"]
    assert trigger["type"] == "redis-streams"
    assert set(meta) <= REDIS_STREAMS_KEYS, set(meta) - REDIS_STREAMS_KEYS
    assert int(meta["lagCount"]) > 0 and "activationLagCount" in meta
    assert meta["consumerGroup"] == GROUP
    assert meta["stream"] == Keyspace().queue("default").stream
    assert scaled["spec"]["minReplicaCount"] >= 1  # workers reap and promote scheduled jobs
    target = scaled["spec"]["scaleTargetRef"]["name"]
    deployment = next(d for d in of_kind("Deployment") if d["metadata"]["name"] == target)
    env_from = deployment["spec"]["template"]["spec"]["containers"][0]["envFrom"]
    config = next(
        d for d in of_kind("ConfigMap") if d["metadata"]["name"] == env_from[0]["configMapRef"]["name"]
    )
    assert re.fullmatch(r"[\w.-]+:\d+", config["data"][meta["addressFromEnv"]])


def test_worker_deployments_drain_before_they_are_killed() -> None:
    workers = [d for d in of_kind("Deployment") if d["metadata"]["name"].startswith("worker-")]
    assert {d["metadata"]["name"] for d in workers} == {"worker-cpu", "worker-gpu"}
    for d in workers:
        spec = d["spec"]["template"]["spec"]
        args = spec["containers"][0]["args"]
        parse_cli(args)
        assert spec["terminationGracePeriodSeconds"] > float(option_value(args, "--shutdown-timeout"))
    gpu = next(d for d in workers if d["metadata"]["name"] == "worker-gpu")["spec"]["template"]["spec"]
    assert gpu["nodeSelector"]
    assert any(t["key"] == "nvidia.com/gpu" for t in gpu["tolerations"])
    assert gpu["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert option_value(gpu["containers"][0]["args"], "--tags") == "has=gpu"


def test_exporter_deployment_parses_with_the_cli() -> None:
    (exporter,) = [d for d in of_kind("Deployment") if d["metadata"]["name"] == "exporter"]
    args = exporter["spec"]["template"]["spec"]["containers"][0]["args"]
    assert parse_cli(args).params["port"] == 9808


# -- systemd, Dockerfile ----------------------------------------------------


def test_systemd_units_verify(tmp_path: Path) -> None:
    analyze = need_tool("systemd-analyze", "apt-get install -y systemd")
    rqueues = shutil.which("rqueues") or str(Path(ROOT / ".venv" / "bin" / "rqueues"))
    units = []
    for unit in SYSTEMD.glob("*.service"):
        # systemd-analyze checks that ExecStart exists: point it at this machine's rqueues.
        text = unit.read_text().replace("/opt/rqueues/bin/rqueues", rqueues)
        copy_path = tmp_path / unit.name.replace("@.", "@test.")
        copy_path.write_text(text)
        units.append(str(copy_path))
    assert len(units) == 2
    done = run([analyze, "verify", *units], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert str(tmp_path) not in done.stderr, done.stderr  # warnings about our files (unknown keys, ...)


def test_systemd_worker_stops_gracefully() -> None:
    unit = (SYSTEMD / "rqueues-worker@.service").read_text()
    settings = assignments(unit)
    assert settings["KillSignal"] == "SIGTERM" and settings["KillMode"] == "mixed"
    example = assignments((SYSTEMD / "worker.env.example").read_text())
    args = shlex.split(example["RQUEUES_WORKER_ARGS"])
    parse_cli(["worker", *args])
    assert int(settings["TimeoutStopSec"]) > float(option_value(args, "--shutdown-timeout"))
    assert settings["ExecStart"].split()[1:] == ["worker", "$RQUEUES_WORKER_ARGS"]


def test_dockerfile_runs_rqueues_as_a_user_and_stops_gracefully() -> None:
    text = (DEPLOY / "Dockerfile").read_text().replace("\\\n", " ")  # join continued lines
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    directive = {line.split()[0]: line.split(None, 1)[1] for line in lines}
    assert directive["USER"] not in ("root", "0")
    assert directive["STOPSIGNAL"] == "SIGTERM"
    assert json.loads(directive["ENTRYPOINT"]) == ["rqueues"]
    parse_cli(json.loads(directive["CMD"]))
    for copied in re.findall(r"^COPY (.+) \S+$", "\n".join(lines), re.M):
        for name in copied.split():
            assert name == "README.md" or (ROOT / name).exists(), name


def assignments(text: str) -> dict[str, str]:
    """KEY=VALUE lines of a unit or environment file (comments skipped)."""
    pairs = (line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))
    return {k.strip(): v.strip() for k, v in pairs}


def _in_ci() -> bool:
    import os

    return bool(os.environ.get("CI"))
