"""Tag routing against running workers: a has=gpu queue only runs where has=gpu is carried."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import tasks

from rqueues import Connection, Queue, Worker

StartWorker = Callable[..., Any]


def test_gpu_queue_never_runs_on_an_untagged_worker_and_runs_once_a_tagged_one_starts(
    conn: Connection, quick_worker: StartWorker, worker_process: Callable[..., Any]
) -> None:
    gpu, cpu = Queue("gpu", conn), Queue("cpu", conn)
    gpu.declare(tags=["has=gpu"])
    cpu.declare()
    untagged = quick_worker()
    gpu_job = gpu.enqueue(tasks.add, 1, 2)
    # A later job on an untagged queue finishing proves the worker is alive and has looked.
    assert cpu.enqueue(tasks.noop).wait(timeout=10) is None
    time.sleep(0.3)  # several 0.1 s refreshes: a wrong routing decision would have claimed it by now
    assert gpu_job.state == "queued"
    assert untagged.queues == ["cpu"]
    assert gpu.info().waiting == 1

    tagged = worker_process("--tags", "has=gpu")
    assert gpu_job.wait(timeout=10) == 3
    assert gpu_job.record().worker == tagged.worker_id


def test_every_pattern_must_match_one_of_the_workers_tags(
    conn: Connection, quick_worker: StartWorker
) -> None:
    both = Queue("both", conn)
    both.declare(tags=["has=gpu", "region=eu-.*"])
    Queue("plain", conn).declare()
    only_gpu = quick_worker(tags={"has=gpu"})
    job = both.enqueue(tasks.noop)
    assert Queue("plain", conn).enqueue(tasks.noop).wait(timeout=10) is None
    assert only_gpu.queues == ["plain"]
    assert job.state == "queued"
    full = quick_worker(tags={"has=gpu", "region=eu-west"})
    job.wait(timeout=10)
    assert job.record().worker == full.worker_id


def test_queue_declared_after_the_worker_started_is_picked_up(
    conn: Connection, worker_process: Callable[..., Any]
) -> None:
    proc = worker_process("--concurrency", "2")  # default 1 s refresh
    late = Queue("late", conn)
    declared = time.monotonic()
    late.declare()
    job = late.enqueue(tasks.add, 40, 2)
    assert job.wait(timeout=15) == 42
    assert job.record().worker == proc.worker_id
    print(f"a new queue was picked up in {(time.monotonic() - declared) * 1000:.0f} ms")


def test_changing_a_queues_tags_reroutes_running_workers(
    conn: Connection, quick_worker: StartWorker, wait_until: Any
) -> None:
    q, control = Queue("moving", conn), Queue("control", conn)
    q.declare()
    control.declare()
    worker = quick_worker()
    assert q.enqueue(tasks.noop).wait(timeout=10) is None
    # Restricted: the untagged worker stops taking from it...
    q.declare(tags=["has=gpu"])
    wait_until(lambda: worker.queues == ["control"], what="the worker to drop the restricted queue")
    stuck = q.enqueue(tasks.noop)
    assert control.enqueue(tasks.noop).wait(timeout=10) is None
    assert stuck.state == "queued"
    # ...and opened again: it takes the waiting job without a restart.
    q.declare()
    stuck.wait(timeout=10)
    assert stuck.record().worker == worker.worker_id


def test_tag_routing_holds_from_the_moment_declare_returns(conn: Connection) -> None:
    """Re-declared with tags this worker lacks, then enqueued at once: the worker's next claim
    sees its view of the queue is stale, re-reads it and leaves the job for a tagged worker.

    The worker is driven by hand and would not re-read the configs on its own for an hour,
    so only the version check in the claim can keep it from taking the job.
    """
    race = Queue("race", conn)
    race.declare()
    worker = Worker(conn, imports=["tasks"], worker_id="w-untagged", refresh_seconds=3600, reaper=False)
    worker.run_once(block=False)
    assert worker.queues == ["race"]

    assert race.declare(tags=["role=none"]).version == 2
    job = race.enqueue(tasks.noop)
    for _ in range(3):
        worker.run_once(block=False)

    assert job.state == "queued"
    assert worker.queues == []
    assert worker.configs["race"].tags == ("role=none",)
    assert len(worker.held) == 0
