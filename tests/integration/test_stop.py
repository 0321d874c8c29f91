"""`rqueues stop JOB_ID`: the request reaches the running job's worker through Redis."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
import tasks
from click.testing import CliRunner, Result

from rqueues import Connection, JobCancelled, Queue, RetryPolicy
from rqueues.backend.keys import GROUP
from rqueues.cli import main


@pytest.fixture
def cli(redis_url: str) -> Callable[..., Result]:
    def run(*args: str, code: int = 0) -> Result:
        result = CliRunner().invoke(main, [args[0], "--redis-url", redis_url, *args[1:]])
        assert result.exit_code == code, result.output
        assert "Traceback" not in result.output
        return result

    return run


def assert_released(conn: Connection, queue: str) -> None:
    keys = conn.keys.queue(queue)
    assert conn.redis.zcard(keys.leases) == 0
    assert conn.redis.xpending(keys.stream, GROUP)["pending"] == 0
    assert conn.redis.zcard(keys.scheduled) == 0


def test_stop_reaches_a_cooperative_job_which_ends_cancelled(
    conn: Connection, cli: Callable[..., Result], quick_worker: Callable[..., Any], wait_until: Any
) -> None:
    q = Queue("default", conn)
    q.declare(concurrency=1)
    quick_worker()
    job = q.enqueue(tasks.wait_for_cancel, 60)
    wait_until(lambda: job.state == "running", what="the job to start")

    assert f"stop requested for {job.id}" in cli("stop", job.id).stdout
    with pytest.raises(JobCancelled):
        job.wait(timeout=15)
    rec = job.record()
    assert (rec.state, rec.attempts) == ("cancelled", 1)
    assert rec.error is not None and rec.error["type"] == "Stopped"
    assert "rqueues stop" in rec.error["message"]
    assert_released(conn, "default")
    # The job returned "cancelled" because it saw current_job().cancelled; the slot is free again.
    assert q.enqueue(tasks.add, 1, 1).wait(timeout=15) == 2


def test_a_stopped_job_that_ignores_the_flag_is_recorded_cancelled_when_it_returns(
    conn: Connection, redis_url: str, quick_worker: Callable[..., Any], wait_until: Any
) -> None:
    q = Queue("default", conn)
    q.declare()
    worker = quick_worker()
    job = q.enqueue(tasks.gated, redis_url, "stop:log", "stop:gate")
    wait_until(lambda: conn.redis.llen("stop:log") == 1, what="the job to start")
    assert job.stop() is True
    held = next((j for jobs in worker.held.snapshot().values() for j in jobs if j.job_id == job.id), None)
    assert held is not None
    wait_until(lambda: held.cancel.is_set(), what="the heartbeat to pass the request on")
    conn.redis.rpush("stop:gate", "go")  # it returns normally, but was asked to stop
    with pytest.raises(JobCancelled):
        job.wait(timeout=15)
    assert job.record().state == "cancelled"
    assert_released(conn, "default")


def test_stop_refuses_a_job_that_is_not_running(
    conn: Connection, cli: Callable[..., Result], quick_worker: Callable[..., Any]
) -> None:
    q = Queue("default", conn)
    q.declare()
    queued = q.enqueue(tasks.noop)
    result = cli("stop", queued.id, code=1)
    assert f"job {queued.id} is queued, not running: not stopped" in result.output
    assert queued.stop() is False
    later = q.options(delay=60).enqueue(tasks.noop)
    assert f"job {later.id} is scheduled, not running" in cli("stop", later.id, code=1).output
    assert "no job 'no-such-job'" in cli("stop", "no-such-job", code=1).output

    quick_worker()
    assert queued.wait(timeout=15) is None  # the refused stop left no mark: it runs normally
    assert queued.record().state == "succeeded"
    assert f"job {queued.id} is succeeded, not running" in cli("stop", queued.id, code=1).output


@pytest.mark.parametrize("function", [tasks.wait_for_event, tasks.fail_on_event])
def test_a_stop_accepted_before_the_outcome_is_stored_wins_even_unseen_by_the_heartbeat(
    conn: Connection, quick_worker: Callable[..., Any], wait_until: Any, function: Callable[..., Any]
) -> None:
    """The job ends before its worker's heartbeat (every 10 s here) reads the request: it still
    ends cancelled, neither succeeded nor retried."""
    q = Queue("default", conn)
    q.declare(retry=RetryPolicy(retries=2, backoff=0.01))
    quick_worker(heartbeat_seconds=10.0, lease_seconds=60.0, dead_after=30.0)
    name = f"stop-unseen:{function.__name__}"
    event = tasks.EVENTS.setdefault(name, threading.Event())
    job = q.enqueue(function, name)
    wait_until(lambda: job.state == "running", what="the job to start")
    assert job.stop() is True
    event.set()  # the job returns (or raises) now, long before the next heartbeat
    with pytest.raises(JobCancelled):
        job.wait(timeout=15)
    rec = job.record()
    assert (rec.state, rec.attempts) == ("cancelled", 1)
    assert rec.errors[-1]["type"] == "Stopped"
    assert_released(conn, "default")
