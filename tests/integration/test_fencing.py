"""Fenced deliveries (invariant 7): a lease, a renewal, a completion act on one delivery.

A worker here is a real Worker whose threads are not started: the test drives its
dispatcher, heartbeat and acker by hand, so that "paused" and "late" are exact
moments instead of timings. A worker that never beat counts as dead for the
reaper, which is how its delivery is taken while its copy of the job still runs.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import tasks

from rqueues import Connection, Queue, Worker
from rqueues.backend.keys import GROUP
from rqueues.backend.replies import ClaimKind
from rqueues.codec import encode_result
from rqueues.worker.execution import Claimed, Outcome
from rqueues.worker.reaper import Reaper


@pytest.fixture
def q(conn: Connection) -> Queue:
    queue = Queue("default", conn)
    queue.declare()
    return queue


@pytest.fixture
def paused(conn: Connection) -> Iterator[Worker]:
    """A worker that claimed one job and then stopped answering (its threads never run).

    Its lease lasts 120 s, twice what the other consumer's claim takes, so a renewal
    it made of someone else's lease would show in the score.
    """
    worker = Worker(conn, imports=["tasks"], worker_id="w-paused", reaper=False, lease_seconds=120)
    worker.refresh()
    yield worker


def held(worker: Worker) -> list[Claimed]:
    return [job for jobs in worker.held.snapshot().values() for job in jobs]


def leases(conn: Connection, queue: str = "default") -> list[tuple[str, float]]:
    return [
        (m.decode(), s) for m, s in conn.redis.zrange(conn.keys.queue(queue).leases, 0, -1, withscores=True)
    ]


def take_from(conn: Connection, consumer: str) -> str:
    """Claim (which starts it) the waiting job as ``consumer``, as another worker would; its entry id."""
    keys = conn.keys.queue("default")
    reply = conn.scripts.claim(keys, consumer, 1, 60_000)
    assert reply.kind == ClaimKind.CLAIMED
    [delivery] = reply.deliveries
    return delivery.entry


def test_a_late_heartbeat_does_not_renew_the_lease_of_the_delivery_that_replaced_its_own(
    conn: Connection, q: Queue, paused: Worker, caplog: pytest.LogCaptureFixture
) -> None:
    job = q.enqueue(tasks.noop)
    assert paused.dispatcher.claim_once().claimed == 1
    [old] = held(paused)
    assert Reaper(conn).reap_once().requeued == 1  # w-paused never beat: taken for dead
    take_from(conn, "w-other")
    before = leases(conn)
    assert len(before) == 1

    caplog.set_level(logging.WARNING, logger="rqueues.worker")
    paused.heartbeat.beat()  # the paused worker wakes up and beats
    paused.heartbeat.beat()

    assert leases(conn) == before  # the new delivery's lease is untouched
    assert old.cancel.is_set() and old.lost
    lost = [r.getMessage() for r in caplog.records if r.name == "rqueues.worker" and job.id in r.getMessage()]
    assert len(lost) == 1, lost  # logged once, not every heartbeat
    assert "they may run elsewhere" in lost[0] and old.entry in lost[0]
    rec = job.record()
    assert (rec.state, rec.attempts, rec.worker) == ("running", 2, "w-other")


def test_a_discarded_stale_completion_keeps_the_new_delivery_of_the_same_job_held_and_leased(
    conn: Connection, q: Queue, paused: Worker, caplog: pytest.LogCaptureFixture
) -> None:
    """The worker re-claims the job it still runs; the old copy then finishes."""
    job = q.enqueue(tasks.noop)
    paused.dispatcher.claim_once()
    [old] = held(paused)
    assert Reaper(conn).reap_once().requeued == 1
    assert paused.dispatcher.claim_once().claimed == 1  # the same job, a new delivery
    assert len(held(paused)) == 2  # both copies, each under its own delivery
    [new] = [j for j in held(paused) if j is not old]
    assert new.job_id == old.job_id == job.id

    old.done = True
    paused.acker.complete([Outcome(old, "succeeded", encode_result("stale"))])

    assert held(paused) == [new]
    assert [m for m, _ in leases(conn)] == [new.entry]
    expiry = leases(conn)[0][1]
    caplog.set_level(logging.WARNING, logger="rqueues.worker")
    paused.heartbeat.beat()
    assert leases(conn)[0][1] >= expiry and not new.lost  # still renewed: still this worker's
    assert not [r for r in caplog.records if "expired before renewal" in r.getMessage()]
    rec = job.record()
    assert (rec.state, rec.attempts, rec.result) == ("running", 2, None)  # the stale outcome was dropped


def test_renew_reports_a_delivery_no_longer_pending_for_the_worker_and_leaves_its_lease(
    conn: Connection, q: Queue
) -> None:
    keys = conn.keys.queue("default")
    q.enqueue(tasks.noop)
    reply = conn.scripts.claim(keys, "w-a", 1, 60_000)
    [delivery] = reply.deliveries
    [(_, expiry)] = leases(conn)
    conn.redis.xclaim(keys.stream, GROUP, "w-b", 0, [delivery.entry], justid=True)

    assert conn.scripts.renew(keys, "w-a", [delivery.entry], 120_000) == [delivery.entry]
    assert leases(conn) == [(delivery.entry, expiry)]
    assert conn.scripts.renew(keys, "w-b", [delivery.entry], 120_000) == []
    assert leases(conn)[0][1] > expiry


def test_a_claim_leases_the_delivery_not_the_job(conn: Connection, q: Queue) -> None:
    job = q.enqueue(tasks.noop)
    reply = conn.scripts.claim(conn.keys.queue("default"), "w-a", 1, 60_000)
    [delivery] = reply.deliveries
    assert delivery.job_id == job.id
    assert [m for m, _ in leases(conn)] == [delivery.entry]
