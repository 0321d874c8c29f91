"""Dependencies: a job with depends_on waits, deferred, until all its parents succeeded; a
parent failing for good, cancelled or dead-lettered cancels it with the reason (unless
allow_failure); a reclaim is not final. Parents and dependents may be in other queues."""

from __future__ import annotations

import itertools
import signal
from collections.abc import Callable
from typing import Any

import pytest
import tasks

from rqueues import Connection, Queue
from rqueues.backend import scripts
from rqueues.backend.replies import ClaimKind
from rqueues.codec import encode_error, encode_result
from rqueues.errors import ConfigurationError, JobCancelled, JobNotFound
from rqueues.job import Job
from rqueues.observe.listing import list_jobs
from rqueues.options import JobOptions
from rqueues.worker.reaper import Reaper


@pytest.fixture
def qs(conn: Connection) -> tuple[Queue, Queue]:
    a, b = Queue("alpha", conn), Queue("beta", conn)
    a.declare()
    b.declare()
    return a, b


def claim(conn: Connection, queue: str) -> tuple[str, str]:
    reply = conn.scripts.claim(conn.keys.queue(queue), "w1", 1, 60_000)
    assert reply.kind == ClaimKind.CLAIMED and reply.deliveries, reply.kind
    return reply.deliveries[0].entry, reply.deliveries[0].job_id


def finish(conn: Connection, queue: str, state: str) -> tuple[str, ...]:
    """Claim the next job of ``queue`` and store ``state`` with complete.lua alone, as a worker
    that dies before telling the dependents would: the jobs noted."""
    entry, job_id = claim(conn, queue)
    blob = encode_result(1) if state == "succeeded" else encode_error("ValueError", "boom", "")
    row = (entry, job_id, state, blob, 60, 0)
    return conn.scripts.run(scripts.complete_noting(conn.keys.queue(queue), [row])).noted


def sweep(conn: Connection) -> None:
    """One reaper pass as if run well after the outcomes were stored."""
    secs, micros = conn.redis.time()
    Reaper(conn).reap_once(now_ms=secs * 1000 + micros // 1000 + 60_000)


def test_a_dependent_waits_deferred_out_of_the_stream(qs: tuple[Queue, Queue], conn: Connection) -> None:
    a, b = qs
    parent = a.enqueue(tasks.add, 1, 2)
    child = b.options(depends_on=[parent]).enqueue(tasks.add, 3, 4)
    assert child.state == "deferred"
    assert conn.redis.xlen(b.keys.stream) == 0  # the lag counts only runnable jobs
    rec = child.record()
    assert rec.parents == (("alpha", parent.id),) and rec.to_json()["parents"][0]["id"] == parent.id
    assert parent.record().dependents == (("beta", child.id),)
    assert [r.id for r in list_jobs(conn, state="deferred")] == [child.id]
    assert child.id in [r.id for r in list_jobs(conn)]


def test_a_chain_runs_in_order_across_two_queues_with_worker_processes(
    qs: tuple[Queue, Queue], conn: Connection, worker_process: Callable[..., Any]
) -> None:
    a, b = qs
    first = a.enqueue(tasks.add, 1, 1)
    second = b.options(depends_on=[first]).enqueue(tasks.add, 2, 2)
    third = a.options(depends_on=[second.id]).enqueue(tasks.add, 3, 3)
    assert (second.state, third.state) == ("deferred", "deferred")
    worker_process("--concurrency", "2")
    worker_process("--concurrency", "2")
    assert third.wait(timeout=30) == 6
    recs = [j.record() for j in (first, second, third)]
    assert [r.state for r in recs] == ["succeeded"] * 3
    for parent, child in itertools.pairwise(recs):
        assert child.started_at is not None and parent.finished_at is not None
        assert child.started_at >= parent.finished_at
    assert conn.redis.zcard(a.keys.notify) == 0 and conn.redis.zcard(b.keys.notify) == 0


def test_a_failed_parent_cancels_its_dependents_with_the_reason(
    qs: tuple[Queue, Queue], conn: Connection, quick_worker: Callable[..., Any]
) -> None:
    a, b = qs
    parent = a.options(retries=0).enqueue(tasks.fail, "no")
    child = b.options(depends_on=[parent], unique_key="child").enqueue(tasks.noop)
    grandchild = a.options(depends_on=[child]).enqueue(tasks.noop)
    quick_worker()
    with pytest.raises(JobCancelled, match=f"parent {parent.id} failed"):
        child.wait(timeout=15)
    with pytest.raises(JobCancelled, match=f"parent {child.id} was cancelled"):
        grandchild.wait(timeout=15)
    rec = child.record()
    assert rec.reason == f"parent {parent.id} failed" and rec.error is not None
    assert rec.error["type"] == "DependencyFailed"
    assert conn.redis.hlen(b.keys.unique) == 0  # a cancelled dependent frees its key
    assert [r.id for r in list_jobs(conn, state="cancelled", queues=["beta"])] == [child.id]
    assert conn.redis.zcard(b.keys.deferred) == 0


def test_allow_failure_runs_the_dependent_anyway(
    qs: tuple[Queue, Queue], quick_worker: Callable[..., Any]
) -> None:
    a, b = qs
    parent = a.options(retries=0).enqueue(tasks.fail, "no")
    ok = a.enqueue(tasks.noop)
    child = b.options(depends_on=[parent, ok], allow_failure=True).enqueue(tasks.add, 1, 2)
    quick_worker()
    assert child.wait(timeout=15) == 3
    assert child.record().parent_states == ("failed", "succeeded")


def test_a_cancelled_parent_cancels_its_dependent_at_once(qs: tuple[Queue, Queue]) -> None:
    a, b = qs
    parent = a.enqueue(tasks.noop)  # waits in its fresh entry: depend.lua wrote its record
    child = b.options(depends_on=[parent]).enqueue(tasks.noop)
    assert parent.cancel()
    assert child.state == "cancelled"
    assert child.record().reason == f"parent {parent.id} was cancelled"


def test_cancelling_a_deferred_job(qs: tuple[Queue, Queue], conn: Connection) -> None:
    a, b = qs
    parent = a.enqueue(tasks.noop)
    child = b.options(depends_on=[parent]).enqueue(tasks.noop)
    assert child.cancel() and child.state == "cancelled"
    assert conn.redis.zcard(b.keys.deferred) == 0
    finish(conn, "alpha", "succeeded")
    sweep(conn)
    assert child.state == "cancelled"  # a parent's success does not revive it


def test_parents_final_before_the_enqueue_decide_at_once(qs: tuple[Queue, Queue], conn: Connection) -> None:
    a, b = qs
    good, bad = a.enqueue(tasks.noop), a.enqueue(tasks.noop)
    finish(conn, "alpha", "succeeded")
    finish(conn, "alpha", "failed")
    runnable = b.options(depends_on=[good]).enqueue(tasks.noop)
    assert runnable.state == "queued" and conn.redis.xlen(b.keys.stream) == 1
    cancelled = b.options(depends_on=[good, bad]).enqueue(tasks.noop)
    assert cancelled.state == "cancelled"


def test_an_unknown_parent_is_refused_and_nothing_is_written(
    qs: tuple[Queue, Queue], conn: Connection
) -> None:
    _a, b = qs
    with pytest.raises(JobNotFound):
        b.options(depends_on=["no-such-job"]).enqueue(tasks.noop)
    with pytest.raises(JobNotFound, match="does not exist"):
        b.options(depends_on=[Job("gone", "alpha", conn)]).enqueue(tasks.noop)
    assert conn.redis.zcard(b.keys.deferred) == 0
    with pytest.raises(ConfigurationError, match="allow_failure needs depends_on"):
        b.options(allow_failure=True).enqueue(tasks.noop)
    with pytest.raises(ConfigurationError, match="depends_on"):
        b.options(depends_on="abc").enqueue(tasks.noop)


def test_a_worker_dying_before_telling_leaves_it_to_the_sweep(
    qs: tuple[Queue, Queue], conn: Connection
) -> None:
    a, b = qs
    parent = a.enqueue(tasks.noop)
    child = b.options(depends_on=[parent]).enqueue(tasks.noop)
    assert finish(conn, "alpha", "succeeded") == (parent.id,)
    assert child.state == "deferred"  # nobody told it yet
    assert conn.redis.zcard(a.keys.notify) == 1
    sweep(conn)
    assert child.state == "queued" and conn.redis.zcard(a.keys.notify) == 0
    # Told again (at least once): nothing changes.
    conn.redis.zadd(a.keys.notify, {parent.id: 0})
    sweep(conn)
    assert conn.redis.xlen(b.keys.stream) == 1


def test_a_dead_lettered_parent_cancels_its_dependent(qs: tuple[Queue, Queue], conn: Connection) -> None:
    a, b = qs
    parent = a.enqueue(tasks.noop)
    child = b.options(depends_on=[parent]).enqueue(tasks.noop)
    entry, _ = claim(conn, "alpha")
    conn.scripts.deadletter(a.keys, [(entry, parent.id, "poison")])
    sweep(conn)
    assert child.state == "cancelled"
    assert child.record().reason == f"parent {parent.id} was dead-lettered"


def test_enqueue_many_takes_dependencies_per_call(qs: tuple[Queue, Queue], conn: Connection) -> None:
    a, b = qs
    parent = a.enqueue(tasks.noop)
    jobs = b.enqueue_many(
        [
            (tasks.noop, (), {}, JobOptions(depends_on=(parent,))),
            (tasks.noop, (), {}),
            (tasks.noop, (), {}, JobOptions(depends_on=(parent,), allow_failure=True)),
        ]
    )
    assert [j.state for j in jobs] == ["deferred", "queued", "deferred"]
    finish(conn, "alpha", "failed")
    sweep(conn)
    assert [j.state for j in jobs] == ["cancelled", "queued", "queued"]


def test_purging_a_parent_cancels_its_dependents(qs: tuple[Queue, Queue], conn: Connection) -> None:
    a, b = qs
    parent = a.enqueue(tasks.noop)
    child = b.options(depends_on=[parent]).enqueue(tasks.noop)
    a.purge()
    sweep(conn)
    assert parent.state == "cancelled" and child.state == "cancelled"
    b.options(depends_on=[Job(parent.id, "alpha", conn)]).enqueue(tasks.noop)  # final: decided at once
    assert b.purge().scheduled == 0  # the cancelled one is gone from the deferred zset already


def test_a_reclaimed_parent_keeps_its_dependent_waiting_until_it_succeeds(
    qs: tuple[Queue, Queue], conn: Connection, redis_url: str, worker_process: Callable[..., Any],
    wait_until: Callable[..., Any],
) -> None:  # fmt: skip
    a, b = qs
    log, gate = "test:log", "test:gate"
    parent = a.enqueue(tasks.gated, redis_url, log, gate)
    child = b.options(depends_on=[parent]).enqueue(tasks.add, 2, 5)
    doomed = worker_process("--queues", "alpha", "--dead-after", "2")
    wait_until(lambda: conn.redis.llen(log) == 1, 20, "the parent to start")
    doomed.signal(signal.SIGKILL)
    doomed.wait(10)
    worker_process("--dead-after", "2")
    wait_until(lambda: conn.redis.llen(log) >= 2, 30, "the parent to start again after its reclaim")
    assert parent.record().reclaims == 1
    assert child.state == "deferred"  # a reclaim is not final
    conn.redis.rpush(gate, "go")
    assert child.wait(timeout=20) == 7


def test_a_parent_is_noted_when_the_worker_passes_its_attempt(
    qs: tuple[Queue, Queue], conn: Connection
) -> None:
    """A worker passes each attempt's number, and complete.lua then reads no record unless the
    job is flagged: registering a dependent flags its parent, so the parent is still noted."""
    a, b = qs
    parent = a.enqueue(tasks.add, 1, 2)
    child = b.options(depends_on=[parent]).enqueue(tasks.add, 3, 4)
    assert conn.redis.sismember(a.keys.flagged, parent.id)
    entry, job_id = claim(conn, "alpha")
    row = (entry, job_id, "succeeded", encode_result(3), 60, 0, 1)  # as the acker sends it
    assert conn.scripts.run(scripts.complete_noting(a.keys, [row])).noted == (parent.id,)
    assert not conn.redis.sismember(a.keys.flagged, parent.id)  # it ended: it leaves the set
    assert child.state == "deferred"  # told by whoever stored the outcome (here: nobody yet)
    sweep(conn)
    assert child.state == "queued"


def test_an_unflagged_completion_reads_no_record(qs: tuple[Queue, Queue], conn: Connection) -> None:
    a, _ = qs
    a.enqueue(tasks.add, 1, 2)
    entry, job_id = claim(conn, "alpha")
    conn.redis.config_resetstat()
    row = (entry, job_id, "succeeded", encode_result(3), 60, 0, 1)
    assert conn.scripts.run(scripts.complete_noting(a.keys, [row])).noted == ()
    stats = conn.redis.info("commandstats")
    assert stats["cmdstat_hmget"]["calls"] == 1  # the queue's config, not the job's record
    assert "cmdstat_hexists" not in stats and "cmdstat_hget" not in stats
