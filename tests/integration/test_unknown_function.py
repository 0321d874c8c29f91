"""A worker that cannot import a job's function gives the job back for a worker that can, uncounted,
and stops taking that queue; the job fails only when no live worker could run it."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import pytest
import tasks

from rqueues import Connection, JobFailed, Queue, RetryPolicy, Worker

Wait = Callable[..., Any]


@pytest.fixture
def q(conn: Connection) -> Queue:
    queue = Queue("default", conn)
    queue.declare(retry=RetryPolicy(retries=3, backoff=0))
    return queue


def refusal_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "cannot run jobs of queue" in r.getMessage()]


def test_a_job_refused_by_a_worker_without_its_code_runs_on_one_with_it_uncounted(
    conn: Connection, q: Queue, quick_worker: Callable[..., Worker], wait_until: Wait
) -> None:
    quick_worker(concurrency=1)  # the worker that can run them
    tasks.EVENTS["busy"] = threading.Event()
    gate = q.enqueue(tasks.wait_for_event, "busy")  # keeps the able worker's only slot busy
    wait_until(lambda: gate.state == "running", what="the gate job to start")
    unable = quick_worker(imports=[], concurrency=4)
    wait_until(lambda: unable.queues == ["default"], what="the unable worker to consume the queue")
    jobs = [q.enqueue(tasks.add, i, i) for i in range(3)]
    wait_until(lambda: unable.queues == [], what="the unable worker to stop taking the queue")
    wait_until(lambda: all(j.state == "queued" for j in jobs), what="the refused jobs to be back")
    refused = [j.record() for j in jobs if conn.redis.hget(q.keys.job(j.id), "refused")]
    assert refused, "the unable worker refused none of the jobs"
    for rec in refused:
        assert rec.attempts == 0  # the refused run is not counted
        assert conn.redis.hget(q.keys.job(rec.id), "refused") == f'["{unable.worker_id}"]'.encode()
    tasks.EVENTS["busy"].set()
    assert [j.wait(timeout=10) for j in jobs] == [0, 2, 4]
    assert [j.record().attempts for j in jobs] == [1, 1, 1]
    assert gate.wait(timeout=10) == "busy"


def test_with_no_worker_able_to_run_it_the_job_fails_at_once_naming_function_and_workers(
    conn: Connection,
    q: Queue,
    quick_worker: Callable[..., Worker],
    wait_until: Wait,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    unable = quick_worker(imports=[])
    job = q.enqueue(tasks.add, 1, 2)
    with pytest.raises(JobFailed) as info:
        job.wait(timeout=10)
    assert info.value.exc_type == "rqueues.errors.UnknownFunction"
    assert info.value.message.startswith(f"no live worker can run 'tasks:add': refused by {unable.worker_id}")
    assert "--import tasks" in info.value.message
    assert job.record().attempts == 1  # not retried under the queue's 3 retries
    # The worker stopped taking the queue (logged once); a new declaration lifts that.
    wait_until(lambda: unable.queues == [], what="the worker to stop taking the queue")
    later = q.enqueue(tasks.add, 2, 2)
    assert len(refusal_lines(caplog)) == 1
    assert later.state == "queued"
    q.declare(retry=RetryPolicy(retries=3, backoff=0))
    wait_until(lambda: later.state == "failed", what="the re-declared queue to be taken again")
    assert any("was declared again: taking its jobs again" in r.getMessage() for r in caplog.records)


def test_a_worker_started_with_no_import_warns_that_it_can_run_nothing(
    conn: Connection,
    q: Queue,
    quick_worker: Callable[..., Worker],
    caplog: pytest.LogCaptureFixture,
    wait_until: Wait,
) -> None:
    caplog.set_level(logging.INFO)
    able = quick_worker(imports=["tasks"])
    worker = quick_worker(imports=[])

    def started(w: Worker) -> bool:
        return any(f"worker {w.worker_id} started" in r.getMessage() for r in caplog.records)

    wait_until(lambda: started(worker) and started(able), what="both workers to start")
    lines = [r.getMessage() for r in caplog.records if "started with no --import" in r.getMessage()]
    assert lines == [
        f"worker {worker.worker_id} was started with no --import: it can run no job (each job it takes "
        "goes back to its queue, and it stops taking that queue); start it with --import MODULE"
    ]


def test_when_every_live_consumer_refused_it_the_job_fails_naming_them_and_requeue_starts_afresh(
    conn: Connection, q: Queue, quick_worker: Callable[..., Worker], wait_until: Wait
) -> None:
    first, second = quick_worker(imports=[]), quick_worker(imports=[])
    wait_until(lambda: first.queues == second.queues == ["default"], what="both workers to consume")
    job = q.enqueue(tasks.add, 1, 2)
    with pytest.raises(JobFailed) as info:
        job.wait(timeout=10)
    names = ", ".join(sorted([first.worker_id, second.worker_id]))
    assert info.value.message.startswith(f"no live worker can run 'tasks:add': refused by {names}")
    rec = job.record()
    assert (rec.state, rec.attempts) == ("failed", 1)  # the first refusal was not counted
    assert conn.redis.hget(q.keys.job(job.id), "refused") is not None
    first.stop()
    second.stop()
    quick_worker()
    assert job.requeue()
    assert conn.redis.hget(q.keys.job(job.id), "refused") is None  # a fresh refusal budget
    assert job.wait(timeout=10) == 3
