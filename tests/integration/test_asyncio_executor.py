"""The asyncio executor: async def jobs overlap on the worker's event loop, a timeout or a stop
cancels the task, and a blocking sync function runs in a thread, never on the loop."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import tasks
from click.testing import CliRunner

from rqueues import Connection, JobCancelled, JobFailed, Queue, Worker
from rqueues.cli import main


def lines(path: Path) -> list[list[str]]:
    return [line.split() for line in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture
def q(conn: Connection) -> Queue:
    queue = Queue("loop", conn)
    queue.declare(executor="asyncio")
    return queue


def test_async_jobs_overlap_on_the_workers_loop(
    q: Queue, quick_worker: Callable[..., Worker], tmp_path: Path
) -> None:
    quick_worker(concurrency=4)
    log = tmp_path / "runs.log"
    jobs = [q.enqueue(tasks.async_logged_sleep, str(log), 1.0) for _ in range(4)]
    for job in jobs:
        assert job.wait(timeout=30) == 1.0
    events = [r[0] for r in lines(log)]
    assert events == ["start"] * 4 + ["end"] * 4, events  # all four ran at once
    assert {r[3] for r in lines(log)} == {str(os.getpid())}  # in the worker's process
    seen = q.enqueue(tasks.async_whoami).wait(timeout=15)
    assert seen["thread"] == "rqueues-asyncio" and seen["job"] is not None  # current_job() per task


def test_an_async_job_is_cancelled_at_its_queues_timeout(
    q: Queue, quick_worker: Callable[..., Worker]
) -> None:
    q.declare(executor="asyncio", timeout=0.3)
    quick_worker()
    job = q.enqueue(tasks.async_sleep, 60)
    with pytest.raises(JobFailed) as failed:
        job.wait(timeout=30)
    assert failed.value.exc_type == "rqueues.errors.JobTimeout"
    rec = job.record()
    assert rec.finished_at is not None and rec.started_at is not None
    assert rec.finished_at - rec.started_at < 30


def test_rqueues_stop_cancels_a_task_on_the_loop(
    conn: Connection, q: Queue, redis_url: str, quick_worker: Callable[..., Worker], wait_until: Any
) -> None:
    quick_worker()
    job = q.enqueue(tasks.async_gated, redis_url, "loop:log", 60)
    other = q.enqueue(tasks.async_sleep, 0.5)
    wait_until(lambda: conn.redis.llen("loop:log") == 1, what="the async job to start")
    result = CliRunner().invoke(main, ["stop", "--redis-url", redis_url, job.id])
    assert result.exit_code == 0, result.output
    with pytest.raises(JobCancelled):
        job.wait(timeout=30)
    assert other.wait(timeout=30) == 0.5  # the loop's other task ran on


def test_a_blocking_sync_function_runs_in_a_thread_not_on_the_loop(
    q: Queue, quick_worker: Callable[..., Worker], tmp_path: Path
) -> None:
    quick_worker(concurrency=4)
    log = tmp_path / "runs.log"
    blocking = q.enqueue(tasks.logged_sleep, str(log), 2.0)
    quick = [q.enqueue(tasks.async_logged_sleep, str(log), 0.05) for _ in range(2)]
    for job in quick:
        job.wait(timeout=30)
    assert blocking.wait(timeout=30) == os.getpid()
    ends = [r[1] for r in lines(log) if r[0] == "end"]
    assert ends[-1] == blocking.id, lines(log)  # the async jobs ended while it blocked
    seen = q.enqueue(tasks.whoami).wait(timeout=15)
    assert seen["thread"].startswith("rqueues-asyncio-sync")
