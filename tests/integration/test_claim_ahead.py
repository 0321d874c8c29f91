"""Jobs claimed ahead of the slots (short jobs, queues with no cap): they hold their leases
(renewed like running jobs), a stop request still ends them cancelled, a stopping worker hands
them back unrun, and a queue with a cap never gets more leases than free slots."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import tasks

from rqueues import Connection, Job, Queue
from rqueues.backend.keys import GROUP

LOG, GATE = "ahead:log", "ahead:gate"


@pytest.fixture
def gate(conn: Connection) -> Iterator[None]:
    yield
    conn.redis.rpush(GATE, "open")  # a gated job left waiting ends at once


def started(conn: Connection) -> list[str]:
    return [line.decode().split()[1] for line in conn.redis.lrange(LOG, 0, -1) if line.startswith(b"start")]


def warm_up(q: Queue, n: int = 10) -> None:
    """Short jobs first: a worker claims ahead only once its jobs proved short."""
    for job in q.enqueue_many([(tasks.noop, (), {}) for _ in range(n)]):
        job.wait(timeout=15)


def claim_gated_and_ahead(
    conn: Connection, q: Queue, redis_url: str, worker: Any, wait_until: Callable[..., Any]
) -> tuple[Job, list[Job]]:
    """One gated job in the only slot and four record jobs claimed ahead of it."""
    calls = [(tasks.gated, (redis_url, LOG, GATE), {})]
    calls += [(tasks.record, (redis_url, LOG, 0), {}) for _ in range(4)]
    gated, *ahead = q.enqueue_many(calls)
    wait_until(lambda: started(conn) == [gated.id], what="the gated job to start")
    wait_until(lambda: worker.slots.waiting == 4, what="four jobs claimed ahead")
    return gated, ahead


def test_jobs_claimed_ahead_say_running_and_hold_leases_until_a_slot_runs_them(
    conn: Connection, q: Queue, redis_url: str, worker_thread: Any, wait_until: Any, gate: None
) -> None:
    running = worker_thread(concurrency=1)
    warm_up(q)
    gated, ahead = claim_gated_and_ahead(conn, q, redis_url, running.worker, wait_until)
    assert [job.state for job in ahead] == ["running"] * 4  # started at its claim, as documented
    assert conn.redis.zcard(q.keys.leases) == 5
    assert len(running.worker.held) == 5  # the heartbeat renews all five

    conn.redis.rpush(GATE, "open")
    assert gated.wait(timeout=15) == gated.id
    assert [job.wait(timeout=15) for job in ahead] == [job.id for job in ahead]
    assert started(conn) == [gated.id, *(job.id for job in ahead)]  # in their queue's order


def test_a_stop_request_for_a_job_claimed_ahead_ends_it_cancelled(
    conn: Connection, q: Queue, redis_url: str, worker_thread: Any, wait_until: Any, gate: None
) -> None:
    running = worker_thread(concurrency=1)
    warm_up(q)
    gated, ahead = claim_gated_and_ahead(conn, q, redis_url, running.worker, wait_until)
    assert ahead[1].stop() is True

    conn.redis.rpush(GATE, "open")
    gated.wait(timeout=15)
    wait_until(lambda: all(job.state not in ("running", "queued") for job in ahead), what="the jobs to end")
    assert [job.state for job in ahead] == ["succeeded", "cancelled", "succeeded", "succeeded"]
    assert not conn.redis.exists(q.keys.flagged)


def test_a_stopping_worker_hands_jobs_claimed_ahead_back_unrun(
    conn: Connection, q: Queue, redis_url: str, worker_thread: Any, wait_until: Any, gate: None
) -> None:
    running = worker_thread(concurrency=1, shutdown_timeout=10)
    warm_up(q)
    gated, ahead = claim_gated_and_ahead(conn, q, redis_url, running.worker, wait_until)

    running.worker.stop()  # drains the running job; the ones ahead must not start
    conn.redis.rpush(GATE, "open")
    running.thread.join(15)
    assert not running.thread.is_alive()

    assert gated.state == "succeeded"
    assert started(conn) == [gated.id]
    assert [job.state for job in ahead] == ["queued"] * 4
    assert conn.redis.zcard(q.keys.leases) == 0
    assert conn.redis.xpending(q.keys.stream, GROUP)["pending"] == 0
    assert [job.record().reclaims for job in ahead] == [0] * 4  # a hand-back, not a reclaim


def test_a_queue_with_a_cap_gets_no_more_leases_than_free_slots(
    conn: Connection, redis_url: str, worker_thread: Any, wait_until: Any, gate: None
) -> None:
    capped = Queue("capped", conn)
    capped.declare(concurrency=3)
    running = worker_thread(concurrency=2, queues=["capped"])
    warm_up(capped)
    assert running.worker.slots.short  # short jobs, yet nothing is claimed ahead
    calls = [(tasks.gated, (redis_url, LOG, GATE), {}) for _ in range(2)]
    calls += [(tasks.record, (redis_url, LOG, 0), {}) for _ in range(4)]
    jobs = capped.enqueue_many(calls)
    wait_until(lambda: len(started(conn)) == 2, what="both slots to run a gated job")
    assert running.worker.slots.waiting == 0 and running.worker.slots.ahead_limit == 0
    assert conn.redis.zcard(capped.keys.leases) == 2  # free slots, not the cap of 3
    conn.redis.rpush(GATE, "open", "open")
    for job in jobs:
        job.wait(timeout=15)
