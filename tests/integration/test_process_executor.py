"""The process executor against a real Redis, with real child processes: hard timeouts, memory
limits, recycling, children killed from outside, stop, shutdown, and the job message channel.

One worker serves a module's tests where it can: its children are reused across them.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import tasks

from rqueues import Connection, JobCancelled, JobFailed, Queue, RetryPolicy, Worker
from rqueues.codec import encode_call, unpack
from rqueues.worker.execution import Claimed, Outcome
from rqueues.worker.executors.process import ProcessExecutor, rss_mb


def gone(pid: int) -> bool:
    """The process has exited (a zombie left for its parent to reap counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (FileNotFoundError, ProcessLookupError):  # reaped between the open and the read: ESRCH
        return True


def lines(path: Path) -> list[list[str]]:
    return [line.split() for line in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture
def worker(quick_worker: Callable[..., Worker]) -> Worker:
    return quick_worker(concurrency=2)


def test_a_job_runs_in_a_child_with_the_workers_imports(conn: Connection, worker: Worker) -> None:
    q = Queue("proc", conn)
    q.declare(executor="process")
    seen = q.enqueue(tasks.whoami).wait(timeout=30)
    assert seen["pid"] != os.getpid()
    assert seen["thread"] == "MainThread"  # the child's own main thread
    assert q.enqueue(tasks.async_add, 2, 3).wait(timeout=30) == 5  # asyncio.run in the child


def test_a_job_past_its_queue_timeout_is_killed_and_retried_with_the_reason(
    conn: Connection, worker: Worker
) -> None:
    q = Queue("proc", conn)
    q.declare(executor="process", timeout=0.5, retry=RetryPolicy(retries=1, backoff=0))
    job = q.enqueue(tasks.sleep, 60)
    with pytest.raises(JobFailed) as failed:
        job.wait(timeout=30)
    assert failed.value.exc_type == "rqueues.errors.JobTimeout"
    rec = job.record()
    assert rec.attempts == 2  # killed, retried once, killed again
    assert [e["message"] for e in rec.errors] == ["killed after its timeout of 0.5s"] * 2
    assert rec.finished_at is not None and rec.started_at is not None
    assert rec.finished_at - rec.started_at < 30  # killed, not left to sleep its 60 s


def test_a_jobs_own_timeout_wins_over_its_queues(conn: Connection, worker: Worker) -> None:
    q = Queue("proc", conn)
    q.declare(executor="process", timeout=600)
    job = q.options(timeout=0.3).enqueue(tasks.sleep, 60)
    with pytest.raises(JobFailed, match=r"killed after its timeout of 0\.3s"):
        job.wait(timeout=30)
    assert q.enqueue(tasks.sleep, 0.01).wait(timeout=30) == 0.01  # the queue's 600 s do not kill it


def test_a_memory_hog_is_killed_at_its_queues_limit(conn: Connection, worker: Worker) -> None:
    q = Queue("proc", conn)
    q.declare(executor="process", max_memory_per_child=100, retry=RetryPolicy(retry_on=("JobOutOfMemory",)))
    job = q.enqueue(tasks.hog, 300)
    with pytest.raises(JobFailed) as failed:
        job.wait(timeout=60)
    assert failed.value.exc_type == "rqueues.errors.JobOutOfMemory"
    assert "max_memory_per_child of 100 MB" in failed.value.message
    assert job.record().attempts == 1
    assert q.enqueue(tasks.hog, 20).wait(timeout=30) == 20  # a new child under the limit


def test_children_are_replaced_after_max_jobs_per_child(
    conn: Connection, quick_worker: Callable[..., Worker]
) -> None:
    quick_worker(concurrency=1)
    q = Queue("proc", conn)
    q.declare(executor="process", max_jobs_per_child=2)
    pids = [q.enqueue(tasks.whoami).wait(timeout=30)["pid"] for _ in range(6)]
    assert pids[0] == pids[1] and pids[2] == pids[3] and pids[4] == pids[5], pids
    assert len(set(pids)) == 3, pids
    for pid in pids[:4]:  # the replaced ones exited
        deadline = time.monotonic() + 10
        while not gone(pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert gone(pid), pid


def test_a_child_killed_from_outside_loses_no_job_and_never_runs_it_twice_at_once(
    conn: Connection, worker: Worker, tmp_path: Path, wait_until: Callable[..., Any]
) -> None:
    q = Queue("proc", conn)
    q.declare(executor="process", retry=RetryPolicy(retries=1, backoff=0))
    log = tmp_path / "runs.log"
    job = q.enqueue(tasks.logged_sleep, str(log), 1.5)
    wait_until(lambda: lines(log), timeout=30, what="the job to start")
    first = int(lines(log)[0][3])
    os.kill(first, signal.SIGKILL)
    assert job.wait(timeout=30) != first
    rec = job.record()
    assert (rec.state, rec.attempts) == ("succeeded", 2)
    assert rec.errors[0]["type"] == "rqueues.errors.ChildDied"
    assert f"worker child pid {first} died with signal 9" in rec.errors[0]["message"]
    runs = lines(log)
    assert [(r[0], r[4]) for r in runs] == [("start", "1"), ("start", "2"), ("end", "2")], runs
    assert runs[1][3] != str(first)  # the retry ran in a new child, after the first died


def test_stop_kills_the_jobs_child_and_the_job_ends_cancelled(
    conn: Connection, worker: Worker, tmp_path: Path, wait_until: Callable[..., Any]
) -> None:
    q = Queue("proc", conn)
    q.declare(executor="process", retry=RetryPolicy(retries=3, backoff=0))
    log = tmp_path / "runs.log"
    job = q.enqueue(tasks.logged_sleep, str(log), 60)
    wait_until(lambda: lines(log), timeout=30, what="the job to start")
    pid = int(lines(log)[0][3])
    assert job.stop()
    with pytest.raises(JobCancelled):
        job.wait(timeout=30)
    assert (job.record().state, job.record().attempts) == ("cancelled", 1)
    wait_until(lambda: gone(pid), what="the child to be killed")
    assert [r[0] for r in lines(log)] == ["start"]


def test_a_lost_delivery_kills_the_jobs_child(
    conn: Connection, worker: Worker, tmp_path: Path, wait_until: Callable[..., Any]
) -> None:
    """Invariant 7: once the heartbeat finds the delivery is no longer ours, the child dies."""
    q = Queue("proc", conn)
    q.declare(executor="process")
    log = tmp_path / "runs.log"
    q.enqueue(tasks.logged_sleep, str(log), 60)
    wait_until(lambda: lines(log), timeout=30, what="the job to start")
    pid = int(lines(log)[0][3])
    conn.redis.delete(conn.keys.queue("proc").leases)  # as if Redis lost the lease
    wait_until(lambda: gone(pid), timeout=15, what="the child to be killed")
    held = [j for jobs in worker.held.snapshot().values() for j in jobs]
    assert all(j.lost for j in held), held


def test_a_hard_stop_kills_the_children_and_hands_the_job_back(
    conn: Connection, worker_thread: Callable[..., Any], tmp_path: Path, wait_until: Callable[..., Any]
) -> None:
    running = worker_thread(concurrency=2)
    q = Queue("proc", conn)
    q.declare(executor="process")
    log = tmp_path / "runs.log"
    job = q.enqueue(tasks.logged_sleep, str(log), 60)
    q.enqueue(tasks.whoami).wait(timeout=30)  # a second, idle child
    wait_until(lambda: lines(log), timeout=30, what="the job to start")
    children = running.worker.executor.executors["process"].children()
    assert len(children) == 2
    running.worker.stop(hard=True)
    running.thread.join(20)
    assert not running.thread.is_alive()
    for pid in children:  # no child outlives its worker
        wait_until(lambda pid=pid: gone(pid), what=f"child {pid} to exit")
    rec = job.record()
    assert (rec.state, rec.attempts) == ("queued", 1)  # handed back, not failed
    assert [r[0] for r in lines(log)] == ["start"]


def test_a_child_does_not_outlive_a_worker_killed_with_sigkill(
    conn: Connection, worker_process: Callable[..., Any], tmp_path: Path, wait_until: Callable[..., Any]
) -> None:
    q = Queue("proc", conn)
    q.declare(executor="process")
    proc = worker_process()
    log = tmp_path / "runs.log"
    q.enqueue(tasks.logged_sleep, str(log), 60)
    wait_until(lambda: lines(log), timeout=30, what="the job to start")
    pid = int(lines(log)[0][3])
    proc.signal(signal.SIGKILL)
    proc.wait(10)
    wait_until(lambda: gone(pid), timeout=10, what="the busy child to exit")
    assert [r[0] for r in lines(log)] == ["start"]


def test_a_queue_switched_from_thread_to_process_runs_its_next_jobs_in_a_child(
    conn: Connection, worker: Worker, wait_until: Callable[..., Any]
) -> None:
    q = Queue("switch", conn)
    q.declare()
    assert q.enqueue(tasks.whoami).wait(timeout=15)["pid"] == os.getpid()
    q.declare(executor="process")
    wait_until(lambda: worker.configs["switch"].executor == "process", what="the worker's refresh")
    assert q.enqueue(tasks.whoami).wait(timeout=30)["pid"] != os.getpid()
    q.declare(executor="thread")
    wait_until(lambda: worker.configs["switch"].executor == "thread", what="the worker's refresh")
    assert q.enqueue(tasks.whoami).wait(timeout=15)["pid"] == os.getpid()


def test_job_messages_reach_the_worker_from_a_child_and_from_a_thread(
    conn: Connection, worker: Worker
) -> None:
    got: list[tuple[str, Any]] = []
    worker.message_handlers["progress"] = lambda job, data: got.append((job.queue, data))
    for name, executor in (("proc", "process"), ("threads", "thread"), ("loop", "asyncio")):
        Queue(name, conn).declare(executor=executor)
        Queue(name, conn).enqueue(tasks.report_messages, 2).wait(timeout=30)
    expected = [{"done": 1, "of": 2}, {"done": 2, "of": 2}]
    for name in ("proc", "threads", "loop"):
        assert [d for q, d in got if q == name] == expected, got


# -- the executor on its own: the hook points other features use ----------------------


@pytest.fixture
def executor() -> Iterator[tuple[ProcessExecutor, list[Outcome], list[tuple[str, Any]]]]:
    outcomes: list[Outcome] = []
    messages: list[tuple[str, Any]] = []
    ex = ProcessExecutor(["tasks"], outcomes.append, lambda job, kind, data: messages.append((kind, data)))
    yield ex, outcomes, messages
    ex.stop(timeout=5)


def claimed(function: str, *args: Any, env: dict[str, str] | None = None) -> Claimed:
    job = Claimed("q", "1-0", "job-1", function, encode_call(args, {}), 1, {}, 60)
    job.env = env or {}
    return job


def test_a_jobs_env_is_set_in_its_child_for_that_job_only(
    executor: tuple[ProcessExecutor, list[Outcome], list[tuple[str, Any]]], wait_until: Callable[..., Any]
) -> None:
    ex, outcomes, _ = executor
    ex.submit(claimed("tasks:whoami", "CUDA_VISIBLE_DEVICES", env={"CUDA_VISIBLE_DEVICES": "3"}))
    wait_until(lambda: len(outcomes) == 1, timeout=30, what="the first job")
    ex.submit(claimed("tasks:whoami", "CUDA_VISIBLE_DEVICES"))
    wait_until(lambda: len(outcomes) == 2, timeout=30, what="the second job")
    first, second = (unpack(o.blob) for o in outcomes)
    assert first["pid"] == second["pid"]  # the same child, reused
    assert (first["env"], second["env"]) == ("3", os.environ.get("CUDA_VISIBLE_DEVICES"))


def test_rss_is_read_from_proc() -> None:
    used = rss_mb(os.getpid())
    assert used is not None and used > 1
