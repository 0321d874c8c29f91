"""Retries with backoff, retry_on, per-job overrides, promotion by any worker, delayed jobs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import tasks

from rqueues import Connection, JobFailed, JobOptions, Queue, RetryPolicy, Worker
from rqueues.backend.keys import GROUP
from rqueues.worker.execution import Outcome
from rqueues.worker.observer import Observer

StartWorker = Callable[..., Worker]


def redis_ms(conn: Connection) -> int:
    secs, micros = conn.redis.time()
    return int(secs * 1000 + micros // 1000)


def scheduled_at(conn: Connection, queue: str, job_id: str) -> list[int]:
    """Server times (ms) at which the job was put in the scheduled set, from the events stream."""
    entries = conn.redis.xrange(conn.keys.queue(queue).events)
    return [int(eid.split(b"-")[0]) for eid, f in entries if f.get(b"scheduled") == job_id.encode()]


def assert_nothing_left(conn: Connection, queue: str) -> None:
    keys = conn.keys.queue(queue)
    assert conn.redis.zcard(keys.scheduled) == 0
    assert conn.redis.zcard(keys.leases) == 0
    assert conn.redis.xpending(keys.stream, GROUP)["pending"] == 0


def test_failing_job_is_retried_with_growing_delays_and_keeps_each_error(
    conn: Connection, quick_worker: StartWorker, wait_until: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scheduled set's due times follow the policy exactly with a known jitter.

    The backoff is long (15, 30, 60 s with jitter 0.5): after checking each due
    time the test moves it to now, so the worker promotes the retry at once.
    """
    real_delay = RetryPolicy.delay
    monkeypatch.setattr(
        RetryPolicy, "delay", lambda self, attempt, rand=None: real_delay(self, attempt, lambda: 0.5)
    )
    q = Queue("default", conn)
    q.declare(retry=RetryPolicy(retries=3, backoff=20.0, backoff_max=1000.0))
    keys = conn.keys.queue("default")
    quick_worker()
    job = q.enqueue(tasks.fail_attempt)

    for attempt, expected_ms in [(1, 15_000), (2, 30_000), (3, 60_000)]:
        wait_until(
            lambda n=attempt: (
                conn.redis.hmget(keys.job(job.id), "state", "attempts") == [b"scheduled", str(n).encode()]
            ),
            what=f"attempt {attempt} to fail and be scheduled",
        )
        due = int(conn.redis.zscore(keys.scheduled, job.id))
        failed_at = scheduled_at(conn, "default", job.id)[-1]
        # The entry's id is stamped at or after the script's TIME, which the due time counts from.
        assert expected_ms - 1000 <= due - failed_at <= expected_ms
        assert conn.redis.zscore(keys.leases, job.id) is None  # no lease while waiting
        conn.redis.zadd(keys.scheduled, {job.id: redis_ms(conn)})  # due now

    with pytest.raises(JobFailed) as info:
        job.wait(timeout=15)
    assert info.value.message == "attempt 4"
    rec = job.record()
    assert (rec.state, rec.attempts) == ("failed", 4)
    assert [(e["attempt"], e["type"], e["message"]) for e in rec.errors] == [
        (n, "ValueError", f"attempt {n}") for n in (1, 2, 3, 4)
    ]
    assert all("tasks.py" in e["traceback"] for e in rec.errors)
    assert len(scheduled_at(conn, "default", job.id)) == 3
    assert_nothing_left(conn, "default")


class RetryLog(Observer):
    """Records the delay the worker chose for each retry."""

    def __init__(self) -> None:
        self.delays_ms: list[int] = []

    def finished(self, outcome: Outcome, seconds: float) -> None:
        if outcome.state == "retry":
            self.delays_ms.append(outcome.delay_ms)


def test_retries_wait_at_least_their_delay_with_the_real_jitter(
    conn: Connection, redis_url: str, quick_worker: StartWorker
) -> None:
    q = Queue("default", conn)
    q.declare(retry=RetryPolicy(retries=3, backoff=0.1, backoff_max=0.3))
    observer = RetryLog()
    quick_worker(observer=observer)
    job = q.enqueue(tasks.fail_attempt, redis_url, "attempts:log")
    with pytest.raises(JobFailed):
        job.wait(timeout=15)

    for delay, full in zip(observer.delays_ms, (100, 200, 300), strict=False):  # the third is capped
        assert full // 2 <= delay <= full
    assert len(observer.delays_ms) == 3
    starts = [tuple(map(int, line.split())) for line in conn.redis.lrange("attempts:log", 0, -1)]
    assert [n for n, _ in starts] == [1, 2, 3, 4]
    for (_, before), (_, after), delay in zip(starts, starts[1:], observer.delays_ms, strict=False):
        assert after - before >= delay  # a retry never runs before it is due
    assert job.record().attempts == 4
    assert_nothing_left(conn, "default")


@pytest.mark.parametrize(
    ("retry_on", "kind", "attempts"),
    [
        (("TransientError",), "transient", 3),  # the class, bare name
        (("tasks.TransientError",), "transient", 3),  # dotted name
        (("RetryableError",), "transient", 3),  # a base class
        (("tasks.RetryableError", "OSError"), "transient", 3),
        (("RetryableError",), "value", 1),  # not listed: fails at once
        (("tasks.ValueError",), "value", 1),  # a dotted name must name the real module
        ((), "value", 3),  # no list: every exception is retried
    ],
)
def test_retry_on_limits_retries_to_listed_exception_types(
    conn: Connection, quick_worker: StartWorker, retry_on: tuple[str, ...], kind: str, attempts: int
) -> None:
    q = Queue("default", conn)
    q.declare(retry=RetryPolicy(retries=2, backoff=0.01, backoff_max=0.02, retry_on=retry_on))
    quick_worker()
    job = q.enqueue(tasks.raise_error, kind)
    with pytest.raises(JobFailed):
        job.wait(timeout=15)
    rec = job.record()
    assert (rec.state, rec.attempts, len(rec.errors)) == ("failed", attempts, attempts)


def test_job_options_override_the_queues_retry_settings(conn: Connection, quick_worker: StartWorker) -> None:
    q = Queue("default", conn)
    q.declare(retry=RetryPolicy(retries=3, backoff=0.01, backoff_max=0.02, retry_on=("KeyError",)))
    quick_worker()
    no_retry = q.options(retries=0).enqueue(tasks.raise_error, "transient")
    any_error = q.options(retry_on=[]).enqueue(tasks.raise_error, "value")
    listed = q.options(retries=1, retry_on=["RetryableError"]).enqueue(tasks.raise_error, "transient")
    queue_rules = q.enqueue(tasks.raise_error, "value")  # ValueError is not a KeyError
    for job, attempts in [(no_retry, 1), (any_error, 4), (listed, 2), (queue_rules, 1)]:
        with pytest.raises(JobFailed):
            job.wait(timeout=15)
        assert job.record().attempts == attempts, job


def test_a_job_backoff_above_the_queues_cap_still_retries(
    conn: Connection, quick_worker: StartWorker
) -> None:
    """Regression: a job's backoff above the queue's backoff_max made the merged policy invalid, the
    slot thread died on it and the job stayed 'running' for good on a live worker."""
    q = Queue("default", conn)
    q.declare(retry=RetryPolicy(retries=1, backoff=0.01, backoff_max=0.02))
    quick_worker(concurrency=1)
    job = q.enqueue_many([(tasks.fail_first, (), {}, JobOptions(backoff=0.05))])[0]
    assert job.wait(timeout=15) == 2
    assert q.enqueue(tasks.add, 1, 1).wait(timeout=15) == 2  # the slot is still there


def test_a_retry_is_promoted_by_a_worker_that_did_not_run_the_job(
    conn: Connection, worker_thread: Callable[..., Any], wait_until: Any
) -> None:
    q = Queue("default", conn)
    q.declare(retry=RetryPolicy(retries=1, backoff=60.0))  # due in 30 to 60 s
    keys = conn.keys.queue("default")
    first = worker_thread(worker_id="first")
    job = q.enqueue(tasks.fail_first)
    wait_until(lambda: job.state == "scheduled", what="the first attempt to fail")
    assert job.record().worker == "first"
    first.stop()
    assert conn.redis.zscore(conn.keys.workers, "first") is None

    second = worker_thread(worker_id="second")
    conn.redis.zadd(keys.scheduled, {job.id: redis_ms(conn)})  # due now: only "second" is left to act
    assert job.wait(timeout=15) == 2
    rec = job.record()
    assert (rec.worker, rec.attempts) == ("second", 2)
    assert [e["message"] for e in rec.errors] == ["first attempt fails"]
    second.stop()
    assert_nothing_left(conn, "default")


def test_delayed_job_waits_in_the_scheduled_set_then_runs(
    conn: Connection, quick_worker: StartWorker
) -> None:
    q = Queue("default", conn)
    q.declare()
    keys = conn.keys.queue("default")
    job = q.options(delay=0.3).enqueue(tasks.add, 1, 2)
    rec = job.record()
    assert rec.state == "scheduled"
    assert conn.redis.zscore(keys.scheduled, job.id) == int(rec.enqueued_at * 1000) + 300
    assert conn.redis.xlen(keys.stream) == 0  # not runnable before it is due

    quick_worker()
    assert job.wait(timeout=15) == 3
    rec = job.record()
    assert rec.started_at is not None and rec.enqueued_at is not None
    assert rec.started_at - rec.enqueued_at >= 0.3  # both stamped by the server's clock
    assert (rec.attempts, rec.errors) == (1, [])
    assert_nothing_left(conn, "default")


def test_cancel_removes_a_scheduled_job(conn: Connection, quick_worker: StartWorker) -> None:
    q = Queue("default", conn)
    q.declare()
    keys = conn.keys.queue("default")
    later = q.options(delay=60).enqueue(tasks.add, 1, 2)
    assert later.state == "scheduled"
    assert later.cancel() is True
    assert later.state == "cancelled"
    assert conn.redis.zscore(keys.scheduled, later.id) is None
    assert later.cancel() is False  # already cancelled

    quick_worker()
    assert q.enqueue(tasks.add, 2, 2).wait(timeout=15) == 4
    assert later.state == "cancelled"  # nothing brought it back
    assert later.record().started_at is None
