"""The `rqueues` command against a real server: declare, enqueue, inspect, cancel, errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
from click.testing import CliRunner, Result

from rqueues import Connection, Job
from rqueues.cli import main
from rqueues.quickstart.embedded import free_port

# What the issue promises `--json` prints for scripts, in the table's column order.
JOB_COLUMNS = (
    "id",
    "queue",
    "function",
    "state",
    "attempts",
    "enqueued_at",
    "started_at",
    "finished_at",
    "worker",
    "progress",
)
JOB_FIELDS = set(JOB_COLUMNS)


@pytest.fixture
def cli(conn: Connection, redis_url: str) -> Callable[..., Result]:
    """Run a command against the flushed test server (conn flushes it)."""

    def run(*args: str, ok: bool = True) -> Result:
        command, rest = args[0], list(args[1:])
        result = CliRunner().invoke(main, [command, "--redis-url", redis_url, *rest])
        if ok:
            assert result.exit_code == 0, result.output
        return result

    return run


def as_json(result: Result) -> Any:
    return json.loads(result.stdout)


def assert_clean_error(result: Result, *needles: str) -> None:
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception  # reported, not raised
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in result.output, result.output


def test_declare_and_list_queues(cli: Callable[..., Result]) -> None:
    out = cli("declare", "heavy", "--concurrency", "2").stdout
    assert "declared heavy" in out and "concurrency 2" in out
    cli("declare", "gpu", "--tags", "has=gpu", "--tags", "region=.*")
    cli("declare", "free")
    rows = {row["name"]: row for row in as_json(cli("queues", "--json"))}
    assert set(rows) == {"heavy", "gpu", "free"}
    assert (rows["heavy"]["concurrency"], rows["heavy"]["running"], rows["heavy"]["waiting"]) == (2, 0, 0)
    assert rows["gpu"]["tags"] == ["has=gpu", "region=.*"]
    assert rows["free"]["concurrency"] == 0 and rows["free"]["tags"] == []
    table = cli("queues").stdout
    assert table.splitlines()[0].split()[:4] == ["NAME", "CONCURRENCY", "RUNNING", "WAITING"]
    assert "unlimited" in table
    # Re-declaring replaces the settings.
    cli("declare", "heavy", "--concurrency", "5")
    assert {r["name"]: r for r in as_json(cli("queues", "--json"))}["heavy"]["concurrency"] == 5


def test_enqueue_parses_json_args_and_key_value_kwargs(
    cli: Callable[..., Result], conn: Connection, quick_worker: Any
) -> None:
    cli("declare", "default")
    quick_worker()
    result = cli(
        "enqueue", "default", "tasks:echo", "1", '"two"', "[3, 4]", "hello", "--width", "200",
        "--name=x", "--flag", "true", "--wait", "10",
    )  # fmt: skip
    job_id, printed = result.stdout.splitlines()
    assert json.loads(printed) == {
        "args": [1, "two", [3, 4], "hello"],
        "kwargs": {"width": 200, "name": "x", "flag": True},
    }
    assert Job.fetch(job_id, conn).result == json.loads(printed)


def test_jobs_job_and_cancel(
    cli: Callable[..., Result], conn: Connection, redis_url: str, quick_worker: Any, wait_until: Any
) -> None:
    cli("declare", "cli", "--concurrency", "1")
    worker = quick_worker(concurrency=2)
    first = cli("enqueue", "cli", "tasks:gated", redis_url, "cli:log", "cli:gate").stdout.strip()
    wait_until(lambda: [r["id"] for r in as_json(cli("jobs", "--state", "running", "--json"))] == [first])
    second = cli("enqueue", "cli", "tasks:gated", redis_url, "cli:log", "cli:gate").stdout.strip()

    running = as_json(cli("jobs", "--state", "running", "--json"))
    assert [r["id"] for r in running] == [first]
    assert JOB_FIELDS <= set(running[0])
    assert running[0]["queue"] == "cli"
    assert running[0]["function"] == "tasks:gated"
    assert running[0]["state"] == "running"
    assert running[0]["attempts"] == 1
    assert running[0]["worker"] == worker.worker_id
    assert running[0]["started_at"] and running[0]["enqueued_at"] and running[0]["finished_at"] is None

    queued = as_json(cli("jobs", "--state", "queued", "--json"))
    assert [(r["id"], r["state"], r["worker"], r["started_at"]) for r in queued] == [
        (second, "queued", None, None)
    ]
    counts = as_json(cli("queues", "--json"))[0]
    assert (counts["running"], counts["waiting"]) == (1, 1)

    assert cli("cancel", second).stdout.strip() == f"cancelled {second}"
    assert as_json(cli("job", second, "--json"))["state"] == "cancelled"

    cli("enqueue", "cli", "tasks:noop")  # nothing for the gate: run after the first ends
    conn.redis.rpush("cli:gate", "go")
    wait_until(lambda: len(as_json(cli("jobs", "--state", "succeeded", "--json"))) == 2)
    done = {r["function"]: r for r in as_json(cli("jobs", "--state", "succeeded", "--json"))}
    assert done["tasks:gated"]["id"] == first
    assert done["tasks:gated"]["finished_at"] >= done["tasks:gated"]["started_at"]

    detail = as_json(cli("job", first, "--json"))
    assert JOB_FIELDS <= set(detail)
    assert detail["state"] == "succeeded"
    assert detail["result"] == first
    assert detail["args"] == [redis_url, "cli:log", "cli:gate"]

    text = cli("job", first).stdout
    assert f"id: {first}" in text and "state: succeeded" in text
    table = cli("jobs").stdout.splitlines()
    assert table[0].split() == [c.upper() for c in JOB_COLUMNS]
    assert len(table) == 1 + 3

    assert_clean_error(cli("cancel", first, ok=False), first, "succeeded", "not queued")


def test_cli_errors_are_messages_not_tracebacks(cli: Callable[..., Result]) -> None:
    assert_clean_error(
        cli("enqueue", "nowhere", "tasks:add", "1", "2", ok=False),
        "queue 'nowhere' is not declared",
        "rqueues declare nowhere",
    )
    assert_clean_error(cli("declare", "bad name", ok=False), "invalid queue name 'bad name'")
    assert_clean_error(cli("declare", "q", "--tags", "has=[gpu", ok=False), "'has=[gpu'")
    assert_clean_error(cli("job", "no-such-job", ok=False), "no job 'no-such-job'")
    assert_clean_error(cli("cancel", "no-such-job", ok=False), "no job 'no-such-job'")
    cli("declare", "default")
    assert_clean_error(cli("enqueue", "default", "not-a-function", ok=False), "'not-a-function'")


@pytest.mark.parametrize(
    "args",
    [
        ["declare", "q"],
        ["queues"],
        ["enqueue", "q", "tasks:noop"],
        ["jobs", "--state", "running"],
        ["job", "some-id"],
        ["cancel", "some-id"],
    ],
)
def test_redis_down_is_a_one_line_message(args: list[str]) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    result = CliRunner().invoke(main, [args[0], "--redis-url", url, *args[1:]])
    assert_clean_error(result, f"cannot reach Redis at {url}")
    assert len(result.output.strip().splitlines()) == 1


def test_redis_down_worker_process_exits_with_a_message(tmp_path: Any) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(__file__)))
    proc = subprocess.run(
        [sys.executable, "-m", "rqueues.cli", "worker", "--redis-url", url, "--import", "tasks"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=tmp_path,
    )
    assert proc.returncode == 1, proc.stderr
    assert f"cannot reach Redis at {url}" in proc.stderr
    assert "Traceback" not in proc.stderr
