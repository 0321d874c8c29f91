"""`rqueues wait` and `rqueues enqueue --wait`: the result, or the recorded error, and an exit status
per way a job can end (0 succeeded, 1 failed, 2 no such job, 3 cancelled, 4 timed out, 5 no Redis)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import tasks
from click.testing import CliRunner, Result

from rqueues import Connection, Queue, RetryPolicy
from rqueues.cli import main
from rqueues.cli.waiting import WaitExit
from rqueues.quickstart.embedded import free_port


def test_wait_exit_statuses_are_distinct_and_documented() -> None:
    assert [s.value for s in WaitExit] == [0, 1, 2, 3, 4, 5]
    for command in ("wait", "enqueue"):
        text = " ".join(CliRunner().invoke(main, [command, "--help"]).output.split())
        assert (
            "Exit status: 0 succeeded, 1 failed or dead-lettered, 2 usage error or no such job, "
            "3 cancelled, 4 timed out, 5 Redis unreachable."
        ) in text


def test_wait_succeeded_exits_0_with_the_result(
    cli: Callable[..., Result], q: Queue, quick_worker: Callable[..., Any]
) -> None:
    quick_worker()
    job = q.enqueue(tasks.add, 2, 3)
    result = cli("wait", job.id, "--timeout", "10")
    assert (result.exit_code, json.loads(result.stdout)) == (WaitExit.SUCCEEDED, 5)


def test_wait_failed_exits_1_with_the_error(
    cli: Callable[..., Result], q: Queue, quick_worker: Callable[..., Any]
) -> None:
    quick_worker()
    job = q.enqueue(tasks.fail, "bad input")
    result = cli("wait", job.id, "--timeout", "10")
    assert result.exit_code == WaitExit.FAILED, result.output
    assert result.stdout == ""
    assert f"Error: job {job.id} failed: ValueError: bad input" in result.stderr
    assert "Remote traceback" in result.stderr


def test_wait_dead_letter_exits_1(cli: Callable[..., Result], conn: Connection, q: Queue) -> None:
    job = q.enqueue(tasks.noop)
    conn.redis.hset(q.keys.job(job.id), mapping={"state": "dead", "reason": "reclaimed 4 times"})
    result = cli("wait", job.id)
    assert result.exit_code == WaitExit.FAILED
    assert "DeadLettered: reclaimed 4 times" in result.stderr


def test_wait_no_such_job_exits_2(cli: Callable[..., Result], q: Queue) -> None:
    result = cli("wait", "no-such-job")
    assert result.exit_code == WaitExit.USAGE
    assert "no job 'no-such-job'" in result.stderr
    assert cli("wait").exit_code == WaitExit.USAGE  # click's own usage errors agree


def test_wait_cancelled_exits_3(cli: Callable[..., Result], q: Queue) -> None:
    job = q.enqueue(tasks.noop)
    assert job.cancel()
    result = cli("wait", job.id, "--timeout", "5")
    assert result.exit_code == WaitExit.CANCELLED
    assert f"job {job.id} was cancelled" in result.stderr


def test_wait_timeout_exits_4(cli: Callable[..., Result], q: Queue) -> None:
    job = q.enqueue(tasks.noop)  # no worker: it stays queued
    result = cli("wait", job.id, "--timeout", "0.2")
    assert result.exit_code == WaitExit.TIMEOUT
    assert f"job {job.id} still queued after 0.2s" in result.stderr


def test_wait_redis_unreachable_exits_5() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    result = CliRunner().invoke(main, ["wait", "some-id", "--redis-url", url])
    assert result.exit_code == WaitExit.UNKNOWN
    assert f"cannot reach Redis at {url}" in result.stderr


def test_enqueue_wait_prints_the_error_of_a_job_no_worker_can_run(
    cli: Callable[..., Result], conn: Connection, quick_worker: Callable[..., Any]
) -> None:
    Queue("default", conn).declare(retry=RetryPolicy(retries=3, backoff=1))
    quick_worker()
    result = cli("enqueue", "default", "tasks:misspelled", "--wait", "5")
    assert result.exit_code == WaitExit.FAILED, result.output
    assert "rqueues.errors.UnknownFunction: no live worker can run 'tasks:misspelled'" in result.stderr
    assert "still scheduled" not in result.output


def test_enqueue_wait_timeout_of_a_job_waiting_to_retry_says_what_failed(
    cli: Callable[..., Result], conn: Connection, quick_worker: Callable[..., Any]
) -> None:
    Queue("default", conn).declare(retry=RetryPolicy(retries=1, backoff=600, backoff_max=600))
    quick_worker()
    result = cli("enqueue", "default", "tasks:fail", "flaky", "--wait", "3")
    assert result.exit_code == WaitExit.TIMEOUT, result.output
    assert "still scheduled after 3.0s; attempt 1 failed with ValueError: flaky" in result.stderr
    job_id = result.stdout.strip()
    assert Queue("default", conn).job(job_id).state == "scheduled"


def test_enqueue_wait_succeeded_prints_id_then_result(
    cli: Callable[..., Result], q: Queue, quick_worker: Callable[..., Any]
) -> None:
    quick_worker()
    result = cli("enqueue", "default", "tasks:add", "20", "22", "--wait", "10")
    assert result.exit_code == WaitExit.SUCCEEDED, result.output
    job_id, value = result.stdout.splitlines()
    assert (q.job(job_id).state, json.loads(value)) == ("succeeded", 42)
