"""giveback.lua and deadletter.lua: what a released delivery becomes, and who learns of it.

A "worker" is a consumer name that claims with the real scripts and never beats,
so the reaper takes it for dead (not registered) and gives its deliveries back.
"""

from __future__ import annotations

import pytest
import tasks

from rqueues import Connection, Queue
from rqueues.backend.entries import read_entry
from rqueues.backend.keys import GROUP
from rqueues.backend.levels import ordered
from rqueues.backend.replies import ClaimKind, Delivery
from rqueues.codec import encode_error
from rqueues.worker.reaper import Reaper


@pytest.fixture
def q(conn: Connection) -> Queue:
    queue = Queue("default", conn)
    queue.declare()
    return queue


def claim(conn: Connection, consumer: str, start: bool = True, queue: str = "default") -> Delivery:
    """Take the next entry as ``consumer`` with a lease. claim.lua starts the job it takes;
    without ``start`` the entry is read and leased by hand, never started, as an older
    version's claim left it before its separate start step."""
    keys = conn.keys.queue(queue)
    if not start:
        [[_, [(entry, fields)]]] = conn.redis.xreadgroup(GROUP, consumer, {keys.stream: ">"}, count=1)
        conn.redis.zadd(keys.leases, {entry: 2**50})
        read = read_entry(queue, entry, fields)
        assert read is not None
        return Delivery(read.entry, read.job_id, started=False)
    reply = conn.scripts.claim(keys, consumer, 1, 60_000)
    assert reply.kind == ClaimKind.CLAIMED, reply.kind
    [delivery] = reply.deliveries
    return delivery


def streams(conn: Connection, queue: str = "default") -> list[str]:
    """The queue's stream and those of the priority levels in use (a job given back goes to
    the RETURNED level's)."""
    keys = conn.keys.queue(queue)
    return [keys.level_stream(lv) for lv in ordered(conn.redis.hkeys(keys.levels))]


def stream_entries(conn: Connection, queue: str = "default") -> list[bytes]:
    return [entry for s in streams(conn, queue) for entry, _ in conn.redis.xrange(s)]


def pending(conn: Connection, queue: str = "default") -> int:
    return sum(int(conn.redis.xpending(s, GROUP)["pending"]) for s in streams(conn, queue))


def test_a_cancelled_jobs_leftover_delivery_given_back_is_dropped_not_queued(
    conn: Connection, q: Queue
) -> None:
    """Cancelled while waiting, its tombstone claimed by a worker that died before acknowledging it."""
    job = q.enqueue(tasks.noop)
    assert job.cancel()
    claim(conn, "w-dead", start=False)  # taken unstarted; the worker dies before the ack

    report = Reaper(conn).reap_once()

    assert job.state == "cancelled"
    assert report.requeued == 0 and [a["outcome"] for a in report.actions] == ["dropped"]
    assert (stream_entries(conn), pending(conn)) == ([], 0)
    assert conn.redis.zcard(conn.keys.queue("default").leases) == 0


@pytest.mark.parametrize("state", ["succeeded", "failed", "dead", "scheduled"])
def test_a_finished_jobs_leftover_delivery_is_dropped(conn: Connection, q: Queue, state: str) -> None:
    """Whatever left the delivery pending (a lost acknowledgement), the job is not run again."""
    job = q.enqueue(tasks.noop)
    claim(conn, "w-dead")
    conn.redis.hset(conn.keys.queue("default").job(job.id), "state", state)

    report = Reaper(conn).reap_once()

    assert job.state == state
    assert [a["outcome"] for a in report.actions] == ["dropped"]
    assert (stream_entries(conn), pending(conn)) == ([], 0)
    assert job.record().reclaims == 0


def test_a_delivery_claimed_but_never_started_goes_back_without_a_reclaim(conn: Connection, q: Queue) -> None:
    job = q.enqueue(tasks.noop)
    claim(conn, "w-dead", start=False)  # taken, never started (no record: the entry has the job)

    assert Reaper(conn).reap_once().requeued == 1

    rec = job.record()
    assert (rec.state, rec.attempts, rec.reclaims, rec.errors) == ("queued", 0, 0, [])
    assert len(stream_entries(conn)) == 1


def test_the_interrupted_attempts_error_goes_under_its_number_and_keeps_an_earlier_real_error(
    conn: Connection, q: Queue
) -> None:
    keys = conn.keys.queue("default")
    job = q.enqueue(tasks.noop)
    first = claim(conn, "w-1")  # attempt 1 fails for real and is retried
    real = encode_error("ValueError", "attempt 1", "")
    assert conn.scripts.complete(keys, [(first.entry, job.id, "retry", real, 60, 0)]) == 1
    assert conn.scripts.promote(keys, [job.id]) == 1
    claim(conn, "w-dead", start=False)  # taken, never started: no attempt was interrupted
    Reaper(conn).reap_once()
    assert [(e["attempt"], e["type"]) for e in job.record().errors] == [(1, "ValueError")]

    claim(conn, "w-dead-2")  # attempt 2 starts, and its worker dies
    Reaper(conn).reap_once()

    rec = job.record()
    assert [(e["attempt"], e["type"]) for e in rec.errors] == [(1, "ValueError"), (2, "WorkerLost")]
    assert (rec.state, rec.attempts, rec.reclaims) == ("queued", 2, 1)


def test_dead_lettering_on_a_capped_queue_wakes_waiters(conn: Connection) -> None:
    """A worker blocked on a capped queue's events stream must learn that a lease was freed."""
    capped = Queue("capped", conn)
    capped.declare(concurrency=1)
    keys = conn.keys.queue("capped")
    job = capped.enqueue(tasks.noop)
    delivery = claim(conn, "w-a", queue="capped")
    before = conn.redis.xlen(keys.events)

    assert conn.scripts.deadletter(keys, [(delivery.entry, job.id, "cannot decode")]) == 1

    assert conn.redis.zcard(keys.leases) == 0
    assert conn.redis.xlen(keys.events) == before + 1
    assert conn.redis.xrevrange(keys.events, count=1)[0][1] == {b"job": job.id.encode()}
    assert job.state == "dead"
