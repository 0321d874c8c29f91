"""An `async def` job runs on any queue and is never stored as a coroutine; a stop or its
timeout cancels it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import tasks

from rqueues import Connection, JobFailed, Queue


@pytest.fixture
def q(conn: Connection) -> Queue:
    queue = Queue("default", conn)
    queue.declare()
    return queue


def test_an_async_job_runs_on_the_thread_executor_and_its_result_is_stored(
    q: Queue, quick_worker: Callable[..., Any]
) -> None:
    """Regression: the coroutine object was returned as the result, failing with SerializationError."""
    quick_worker()
    job = q.enqueue(tasks.async_add, 2, 3)
    assert job.wait(timeout=15) == 5
    assert (job.record().state, job.record().attempts) == ("succeeded", 1)


def test_an_async_jobs_exception_fails_it_with_the_remote_traceback(
    q: Queue, quick_worker: Callable[..., Any]
) -> None:
    quick_worker()
    job = q.enqueue(tasks.async_fail, "async boom")
    with pytest.raises(JobFailed) as failed:
        job.wait(timeout=15)
    assert "async boom" in str(failed.value)
    assert "async_fail" in (job.record().error or {}).get("traceback", "")


def test_an_async_job_is_cancelled_at_its_timeout(q: Queue, quick_worker: Callable[..., Any]) -> None:
    quick_worker()
    job = q.options(timeout=0.2).enqueue(tasks.async_sleep, 30)
    with pytest.raises(JobFailed) as failed:
        job.wait(timeout=15)
    assert failed.value.exc_type.endswith("JobTimeout"), failed.value.exc_type
    rec = job.record()
    assert rec.finished_at is not None and rec.started_at is not None
    assert rec.finished_at - rec.started_at < 10  # cancelled, not left to sleep its 30 s


def test_rqueues_stop_cancels_a_running_async_job(
    conn: Connection, q: Queue, redis_url: str, quick_worker: Callable[..., Any], wait_until: Any
) -> None:
    quick_worker()
    job = q.enqueue(tasks.async_gated, redis_url, "async:log")
    wait_until(lambda: conn.redis.llen("async:log") == 1, what="the async job to start")
    assert job.stop()
    wait_until(lambda: job.state == "cancelled", timeout=15, what="the stop to cancel the task")
