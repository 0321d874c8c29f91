"""complete.lua's fast path (one XACK for the batch, no record read while no job of the queue is
flagged) and its slow paths give the same outcomes: a stop request still wins, a delivery no
longer pending is still left alone while the rest of its batch completes, a watched job still
wakes its waiter, and the flagged set does not grow for good."""

from __future__ import annotations

import pytest

from rqueues import Connection, Queue, RetryPolicy
from rqueues.backend.keys import GROUP
from rqueues.backend.replies import ClaimKind, GiveBack
from rqueues.codec import encode_result
from rqueues.job import Job


@pytest.fixture
def q(conn: Connection) -> Queue:
    queue = Queue("default", conn)
    queue.declare(retry=RetryPolicy(retries=2, backoff=0))
    return queue


def claim(conn: Connection, q: Queue, want: int, consumer: str = "w-1") -> list[tuple[str, str, int]]:
    reply = conn.scripts.claim(q.keys, consumer, want, 60_000)
    assert reply.kind == ClaimKind.CLAIMED, reply.kind
    return [(d.entry, d.job_id, d.attempts) for d in reply.deliveries]


def succeed(taken: list[tuple[str, str, int]]) -> list[tuple[str, str, str, bytes, int, int, int]]:
    return [(e, j, "succeeded", encode_result(j), 60, 0, a) for e, j, a in taken]


def assert_settled(conn: Connection, q: Queue) -> None:
    assert conn.redis.xpending(q.keys.stream, GROUP)["pending"] == 0
    assert conn.redis.zcard(q.keys.leases) == 0
    assert conn.redis.xlen(q.keys.stream) == 0


def test_a_batch_with_nothing_flagged_stores_every_outcome(conn: Connection, q: Queue) -> None:
    jobs = [q.enqueue("tasks:add", i, 1) for i in range(5)]
    taken = claim(conn, q, 5)
    assert not conn.redis.exists(q.keys.flagged)
    assert conn.scripts.complete(q.keys, succeed(taken)) == 5
    for job in jobs:
        rec = job.record()
        assert (rec.state, rec.attempts) == ("succeeded", 1)
        assert 0 < conn.redis.ttl(q.keys.job(job.id)) <= 60
    assert conn.redis.zcard(q.keys.finished("succeeded")) == 5
    assert_settled(conn, q)


def test_a_stopped_job_among_a_completed_batch_ends_cancelled(conn: Connection, q: Queue) -> None:
    jobs = [q.enqueue("tasks:add", i, 1) for i in range(4)]
    taken = claim(conn, q, 4)
    assert jobs[2].stop() is True  # recorded; the worker's heartbeat has not read it
    assert conn.redis.smembers(q.keys.flagged) == {jobs[2].id.encode()}

    assert conn.scripts.complete(q.keys, succeed(taken)) == 4

    states = [job.record().state for job in jobs]
    assert states == ["succeeded", "succeeded", "cancelled", "succeeded"]
    assert jobs[2].record().errors[-1]["type"] == "Stopped"
    assert not conn.redis.exists(q.keys.flagged)  # the stopped job ended: it left the set
    assert_settled(conn, q)


def test_a_stopped_job_that_failed_with_retries_left_ends_cancelled(conn: Connection, q: Queue) -> None:
    job = q.enqueue("tasks:add", 1, 1)
    [(entry, job_id, attempts)] = claim(conn, q, 1)
    job.stop()
    row = (entry, job_id, "retry", encode_result("boom"), 60, 10, attempts)
    assert conn.scripts.complete(q.keys, [row]) == 1
    assert job.record().state == "cancelled"
    assert conn.redis.zcard(q.keys.scheduled) == 0


def test_a_delivery_no_longer_pending_is_left_alone_while_its_batch_completes(
    conn: Connection, q: Queue
) -> None:
    jobs = [q.enqueue("tasks:add", i, 1) for i in range(3)]
    taken = claim(conn, q, 3, consumer="w-old")
    # The reaper took w-old for dead and gave the middle delivery back; another worker runs it.
    [reply] = conn.scripts.giveback(
        q.keys, [taken[1][:2]], reclaim=True, max_reclaims=3, reason="worker w-old died", error=b""
    )
    assert reply is GiveBack.QUEUED
    [again] = claim(conn, q, 1, consumer="w-new")
    assert again[1] == jobs[1].id and again[2] == 2

    assert conn.scripts.complete(q.keys, succeed(taken)) == 2  # the stale copy's outcome is discarded

    assert [job.record().state for job in jobs] == ["succeeded", "running", "succeeded"]
    assert conn.redis.zscore(q.keys.leases, again[0]) is not None  # the new delivery keeps its lease
    assert conn.redis.xpending(q.keys.stream_of(again[0]), GROUP)["pending"] == 1
    assert conn.scripts.complete(q.keys, succeed([again])) == 1
    rec = jobs[1].record()
    assert (rec.state, rec.attempts, rec.result) == ("succeeded", 2, jobs[1].id)
    assert_settled(conn, q)


def test_a_batch_of_a_deleted_queue_completes_nothing(conn: Connection, q: Queue) -> None:
    q.enqueue("tasks:add", 1, 1)
    taken = claim(conn, q, 1)
    conn.redis.delete(q.keys.stream)
    assert conn.scripts.complete(q.keys, succeed(taken)) == 0


def test_a_watched_running_job_wakes_its_waiter_and_leaves_the_flagged_set(
    conn: Connection, q: Queue
) -> None:
    job = q.enqueue("tasks:add", 1, 1)
    other = q.enqueue("tasks:add", 2, 1)
    taken = claim(conn, q, 2)
    watched = conn.scripts.watch(q.keys, job.id)
    assert watched is not None and watched.state == "running"
    assert conn.redis.smembers(q.keys.flagged) == {job.id.encode()}
    before = conn.redis.xlen(q.keys.events)

    assert conn.scripts.complete(q.keys, succeed(taken)) == 2

    wakes = conn.redis.xrange(q.keys.events)[before:]
    assert [w[1] for w in wakes] == [{b"job": job.id.encode()}]  # the unwatched one wakes nobody
    assert not conn.redis.exists(q.keys.flagged)
    assert other.record().state == "succeeded"


def test_a_watched_job_keeps_its_flag_through_a_retry(conn: Connection, q: Queue) -> None:
    job = q.enqueue("tasks:add", 1, 1)
    [(entry, job_id, attempts)] = claim(conn, q, 1)
    conn.scripts.watch(q.keys, job.id)
    row = (entry, job_id, "retry", encode_result("boom"), 60, 0, attempts)
    assert conn.scripts.complete(q.keys, [row]) == 1
    assert job.record().state == "scheduled"
    assert conn.redis.smembers(q.keys.flagged) == {job.id.encode()}  # its waiter still waits


def test_flags_of_jobs_that_ended_elsewhere_are_dropped_by_later_completions(
    conn: Connection, q: Queue
) -> None:
    waiting = [q.enqueue("tasks:add", i, 1) for i in range(3)]
    for job in waiting:
        conn.scripts.watch(q.keys, job.id)
        assert job.cancel() is True  # cancelled while queued: complete.lua never sees them
    assert conn.redis.scard(q.keys.flagged) == 3
    claim(conn, q, 3)  # consumes the tombstones
    later = q.enqueue("tasks:add", 9, 1)
    for _ in range(3):  # each completion drops a few stale members
        if not conn.redis.exists(q.keys.flagged):
            break
        taken = claim(conn, q, 1)
        conn.scripts.complete(q.keys, succeed(taken))
        later = q.enqueue("tasks:add", 9, 1)
    assert not conn.redis.exists(q.keys.flagged)
    assert Job(later.id, "default", conn).state == "queued"


def test_an_attempt_number_left_out_is_read_from_the_record(conn: Connection, q: Queue) -> None:
    job = q.enqueue("tasks:add", 1, 1)
    [(entry, job_id, _)] = claim(conn, q, 1)
    row = (entry, job_id, "failed", encode_result("boom"), 60, 0)
    assert conn.scripts.complete(q.keys, [row]) == 1
    rec = job.record()
    assert rec.state == "failed" and [e["attempt"] for e in rec.errors] == [1]
