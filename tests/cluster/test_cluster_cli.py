"""`rqueues` listing and job commands against the cluster: they read queues on every node."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from click.testing import CliRunner, Result

from rqueues import Connection
from rqueues.cli import main


@pytest.fixture
def cli(conn: Connection, cluster_url: str) -> Callable[..., Any]:
    def run(*args: str) -> Any:
        command, rest = args[0], list(args[1:])
        result: Result = CliRunner().invoke(main, [command, "--redis-url", cluster_url, *rest])
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout) if "--json" in rest else result.stdout

    return run


def test_queues_and_jobs_listings(
    cli: Callable[..., Any], conn: Connection, spread_queues: Any, start_worker: Any, wait_until: Any
) -> None:
    names = spread_queues(3)
    for name in names:
        cli("declare", name, "--concurrency", "2")
    ids = {name: cli("enqueue", name, "tasks:add", "1", "2").strip() for name in names}

    listed = {q["name"]: q for q in cli("queues", "--json")}
    assert set(listed) == set(names)
    assert all(listed[n]["waiting"] == 1 and listed[n]["concurrency"] == 2 for n in names)
    queued = cli("jobs", "--state", "queued", "--json")
    assert {(j["queue"], j["id"]) for j in queued} == set(ids.items())

    # `job` and `cancel` find the job's queue themselves, whichever node holds it.
    doomed = ids[names[2]]
    assert cli("job", doomed, "--json")["queue"] == names[2]
    assert f"cancelled {doomed}" in cli("cancel", doomed)

    worker = start_worker()
    for name in names[:2]:
        assert cli("wait", ids[name], "--timeout", "20").strip() == "3"
    wait_until(lambda: cli("workers", "--json"), what="the worker in the registry")
    assert [w["id"] for w in cli("workers", "--json")] == [worker.worker_id]
    info = cli("info", "--json", "--sample", "0.1")  # rates read twice
    assert sorted(q["name"] for q in info["queues"]) == sorted(names)
    assert [w["id"] for w in info["workers"]] == [worker.worker_id]

    # Finished records are found by a SCAN on the node of each queue.
    every = {(j["queue"], j["id"]): j["state"] for j in cli("jobs", "--json")}
    assert every == {
        (names[0], ids[names[0]]): "succeeded",
        (names[1], ids[names[1]]): "succeeded",
        (names[2], doomed): "cancelled",
    }
    assert [j["id"] for j in cli("jobs", "--state", "succeeded", "--queue", names[1], "--json")] == [
        ids[names[1]]
    ]
