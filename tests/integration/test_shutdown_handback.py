"""Shutdown: drain for shutdown_timeout, then hand running jobs back at once; hard stops hand back now.

The job used (tasks.hold_first_attempt) ignores its cancel flag and blocks on
its first attempt until the test opens its gate, so "the worker is gone while
the log still says only 'start 1'" proves the worker did not wait for the job.
Later attempts return at once, so another worker can finish it.
"""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import tasks
from stream_jobs import entry_jobs, streams

from rqueues import Connection, Job, Queue
from rqueues.backend.keys import GROUP

LOG, GATE = "handback:log", "handback:gate"


@pytest.fixture
def gate(conn: Connection, wait_until: Any) -> Iterator[None]:
    """Open the gate at teardown and wait for a first attempt abandoned on a worker thread to end,
    so it writes nothing into the next test's (flushed) keyspace."""
    yield
    if conn.redis.lrange(LOG, 0, -1).count(b"start 1") and not conn.redis.lrange(LOG, 0, -1).count(b"end 1"):
        conn.redis.rpush(GATE, "open")
        wait_until(lambda: b"end 1" in conn.redis.lrange(LOG, 0, -1), what="the abandoned attempt to end")


def log(conn: Connection) -> list[str]:
    return [line.decode() for line in conn.redis.lrange(LOG, 0, -1)]


def start_held_job(
    conn: Connection, redis_url: str, wait_until: Any, concurrency: int = 0
) -> tuple[Job, str]:
    """Enqueue the gated job and wait for it to start; returns the job and its stream entry."""
    q = Queue("default", conn)
    q.declare(concurrency=concurrency)
    job = q.enqueue(tasks.hold_first_attempt, redis_url, LOG, GATE)
    wait_until(lambda: log(conn) == ["start 1"], what="the job to start")
    [(entry, _)] = conn.redis.xrange(conn.keys.queue("default").stream)
    return job, entry.decode()


def assert_handed_back(conn: Connection, job: Job, old_entry: str, worker_id: str) -> None:
    """Queued again as a new entry, lease released, nothing pending, the worker gone from everywhere."""
    keys = conn.keys.queue("default")
    rec = job.record()
    assert (rec.state, rec.attempts, rec.reclaims, rec.errors) == ("queued", 1, 0, [])  # not a reclaim
    assert conn.redis.zscore(keys.leases, job.id) is None
    entries = entry_jobs(conn.redis, keys)
    assert len(entries) == 1 and entries[0][1] == job.id and entries[0][0] != old_entry
    assert all(conn.redis.xpending(s, GROUP)["pending"] == 0 for s in streams(conn.redis, keys))
    names = [
        c["name"].decode() for s in streams(conn.redis, keys) for c in conn.redis.xinfo_consumers(s, GROUP)
    ]
    assert worker_id not in names
    assert conn.redis.zscore(conn.keys.workers, worker_id) is None
    assert not conn.redis.exists(conn.keys.worker(worker_id))


@pytest.mark.usefixtures("gate")
def test_stop_hands_a_long_job_back_after_the_drain_timeout_and_another_worker_runs_it(
    conn: Connection, redis_url: str, worker_thread: Callable[..., Any], wait_until: Any
) -> None:
    first = worker_thread(worker_id="first", shutdown_timeout=0.2)
    job, entry = start_held_job(conn, redis_url, wait_until)

    first.stop()  # joins the worker's thread
    assert log(conn) == ["start 1"]  # the job is still blocked: nobody waited for it
    assert_handed_back(conn, job, entry, "first")

    worker_thread(worker_id="second")
    assert job.wait(timeout=15) == 2
    rec = job.record()
    assert (rec.state, rec.worker, rec.attempts) == ("succeeded", "second", 2)


@pytest.mark.usefixtures("gate")
def test_hard_stop_hands_back_without_draining(
    conn: Connection, redis_url: str, worker_thread: Callable[..., Any], wait_until: Any
) -> None:
    first = worker_thread(worker_id="first", shutdown_timeout=600)
    job, entry = start_held_job(conn, redis_url, wait_until)

    first.worker.stop(hard=True)
    first.thread.join(15)  # far less than the 600 s drain it skips
    assert not first.thread.is_alive()
    assert log(conn) == ["start 1"]
    assert_handed_back(conn, job, entry, "first")


def test_a_job_that_ends_within_the_drain_timeout_completes_normally(
    conn: Connection, redis_url: str, worker_thread: Callable[..., Any], wait_until: Any
) -> None:
    keys = conn.keys.queue("default")
    first = worker_thread(worker_id="first", shutdown_timeout=60)
    job, _ = start_held_job(conn, redis_url, wait_until)

    first.worker.stop()
    first.thread.join(0.3)
    assert first.thread.is_alive()  # draining: waits for the running job
    later = Queue("default", conn).enqueue(tasks.noop)  # a draining worker takes nothing new
    conn.redis.rpush(GATE, "open")
    first.thread.join(15)
    assert not first.thread.is_alive()

    rec = job.record()
    assert (rec.state, rec.worker, rec.attempts, rec.reclaims) == ("succeeded", "first", 1, 0)
    assert log(conn) == ["start 1", "end 1"]
    assert later.state == "queued"
    assert [job for _, job in entry_jobs(conn.redis, keys)] == [later.id]  # no hand-back
    assert conn.redis.zcard(keys.leases) == 0
    assert conn.redis.xpending(keys.stream, GROUP)["pending"] == 0
    assert conn.redis.zscore(conn.keys.workers, "first") is None  # deregistered


@pytest.mark.parametrize(
    ("timeout", "signals"),
    [
        ("0.3", [signal.SIGTERM]),  # drains 0.3 s, then hands back
        ("600", [signal.SIGTERM, signal.SIGTERM]),  # a second signal stops hard
        ("600", [signal.SIGQUIT]),  # SIGQUIT stops hard at once
    ],
    ids=["sigterm-short-drain", "sigterm-twice", "sigquit"],
)
def test_signals_hand_back_to_a_capped_queue_without_waiting_for_the_lease(
    conn: Connection,
    redis_url: str,
    worker_process: Callable[..., Any],
    worker_thread: Callable[..., Any],
    wait_until: Any,
    timeout: str,
    signals: list[signal.Signals],
) -> None:
    """The queue's cap is 1 and leases last 30 s: only a released lease lets the second worker start
    the job within the test's 15 s."""
    proc = worker_process("--shutdown-timeout", timeout)
    job, entry = start_held_job(conn, redis_url, wait_until, concurrency=1)

    for signum in signals[:-1]:
        proc.signal(signum)
        with pytest.raises(subprocess.TimeoutExpired):
            proc.wait(timeout=0.5)  # the first SIGTERM drains: still running
    proc.signal(signals[-1])
    assert proc.wait(timeout=20) == 0, proc.output()
    assert log(conn) == ["start 1"]
    assert_handed_back(conn, job, entry, proc.worker_id)
    assert "handed back 1 unfinished job(s)" in proc.output()

    worker_thread(worker_id="second")
    assert job.wait(timeout=15) == 2
    assert job.record().worker == "second"
