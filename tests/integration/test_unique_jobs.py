"""Unique jobs: at most one queued, scheduled or running job per unique key in a queue,
the key released at every final outcome and kept through a retry wait and a reclaim."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import tasks

from rqueues import Connection, Queue
from rqueues.backend.keys import GROUP
from rqueues.backend.replies import ClaimKind
from rqueues.codec import encode_error, encode_result
from rqueues.errors import ConfigurationError, DuplicateJob
from rqueues.job import Job
from rqueues.options import JobOptions

TESTS = Path(__file__).resolve().parent.parent


def holder(conn: Connection, queue: str, key: str) -> str | None:
    raw = conn.redis.hget(conn.keys.queue(queue).unique, key)
    return raw.decode() if raw else None


def claim(conn: Connection, queue: str, consumer: str = "w1", want: int = 1) -> tuple[str, str]:
    reply = conn.scripts.claim(conn.keys.queue(queue), consumer, want, 60_000)
    assert reply.kind == ClaimKind.CLAIMED, reply.kind
    d = reply.deliveries[0]
    return d.entry, d.job_id


def complete(conn: Connection, queue: str, entry: str, job_id: str, state: str, delay_ms: int = 0) -> None:
    blob = encode_result(1) if state == "succeeded" else encode_error("ValueError", "boom", "")
    keys = conn.keys.queue(queue)
    assert conn.scripts.complete(keys, [(entry, job_id, state, blob, 60, delay_ms)]) == 1


def test_a_second_enqueue_returns_the_job_that_holds_the_key(q: Queue, conn: Connection) -> None:
    first = q.options(unique_key="report-42").enqueue(tasks.add, 1, 2)
    again = q.options(unique_key="report-42").enqueue(tasks.add, 3, 4)
    assert not first.duplicate and again.duplicate
    assert again.id == first.id and "duplicate=True" in repr(again)
    assert conn.redis.xlen(q.keys.stream) == 1
    assert holder(conn, "default", "report-42") == first.id
    other = q.options(unique_key="report-43").enqueue(tasks.add, 1, 2)
    assert other.id != first.id and not other.duplicate


def test_on_duplicate_raise_names_the_holder_and_writes_nothing(q: Queue, conn: Connection) -> None:
    first = q.options(unique_key="k").enqueue(tasks.noop)
    with pytest.raises(DuplicateJob) as caught:
        q.options(unique_key="k", on_duplicate="raise").enqueue(tasks.noop)
    assert caught.value.job_id == first.id and first.id in str(caught.value)
    assert conn.redis.xlen(q.keys.stream) == 1


def test_a_batch_returns_the_first_call_s_job_for_a_key_named_twice(q: Queue, conn: Connection) -> None:
    opts = JobOptions(unique_key="batch")
    jobs = q.enqueue_many([(tasks.noop, (), {}, opts), (tasks.add, (1, 2), {}), (tasks.noop, (), {}, opts)])
    assert [j.duplicate for j in jobs] == [False, False, True]
    assert jobs[2].id == jobs[0].id
    assert conn.redis.xlen(q.keys.stream) == 2
    raising = JobOptions(unique_key="other", on_duplicate="raise")
    with pytest.raises(DuplicateJob):
        q.enqueue_many([(tasks.noop, (), {}), (tasks.noop, (), {}, raising), (tasks.noop, (), {}, raising)])
    with pytest.raises(DuplicateJob):  # held: nothing of the batch is written
        q.enqueue_many(
            [(tasks.noop, (), {}), (tasks.noop, (), {}, JobOptions(unique_key="batch", on_duplicate="raise"))]
        )
    assert conn.redis.xlen(q.keys.stream) == 2


def test_the_key_is_checked(q: Queue) -> None:
    for bad in ("", "   ", "x" * 257, "a\nb", 42):
        with pytest.raises(ConfigurationError, match="unique_key"):
            q.options(unique_key=bad).enqueue(tasks.noop)
    with pytest.raises(ConfigurationError, match="on_duplicate"):
        q.options(unique_key="k", on_duplicate="ignore").enqueue(tasks.noop)


def test_concurrent_enqueues_from_several_processes_make_one_job(
    q: Queue, conn: Connection, redis_url: str
) -> None:
    script = textwrap.dedent(
        f"""
        import sys
        from rqueues import Queue, connect
        q = Queue("default", connect({redis_url!r}))
        ids = {{q.options(unique_key="same").enqueue("tasks:noop").id for _ in range(50)}}
        print(" ".join(sorted(ids)))
        """
    )
    env = {**os.environ, "PYTHONPATH": str(TESTS)}
    procs = [
        subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, env=env, text=True)
        for _ in range(4)
    ]
    outputs = [p.communicate(timeout=60)[0].split() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    ids = {i for out in outputs for i in out}
    assert len(ids) == 1, ids
    assert conn.redis.xlen(q.keys.stream) == 1
    assert holder(conn, "default", "same") == ids.pop()


@pytest.mark.parametrize("state", ["succeeded", "failed"])
def test_a_final_outcome_releases_the_key(q: Queue, conn: Connection, state: str) -> None:
    job = q.options(unique_key="k").enqueue(tasks.noop)
    entry, job_id = claim(conn, "default")
    assert job_id == job.id
    assert q.options(unique_key="k").enqueue(tasks.noop).duplicate  # running holds it
    complete(conn, "default", entry, job_id, state)
    assert holder(conn, "default", "k") is None
    assert not q.options(unique_key="k").enqueue(tasks.noop).duplicate


def test_a_retry_wait_keeps_the_key_and_the_last_failure_releases_it(q: Queue, conn: Connection) -> None:
    job = q.options(unique_key="k", retries=1).enqueue(tasks.noop)
    entry, _ = claim(conn, "default")
    complete(conn, "default", entry, job.id, "retry", delay_ms=0)
    assert job.state == "scheduled"
    assert q.options(unique_key="k").enqueue(tasks.noop).id == job.id
    conn.scripts.promote(q.keys, [job.id])
    entry, again = claim(conn, "default")
    assert again == job.id
    complete(conn, "default", entry, job.id, "failed")
    assert holder(conn, "default", "k") is None


def test_a_reclaim_keeps_the_key_and_a_dead_letter_releases_it(conn: Connection) -> None:
    q = Queue("default", conn)
    q.declare(max_reclaims=1)
    job = q.options(unique_key="k").enqueue(tasks.noop)
    error = encode_error("WorkerLost", "gone", "")
    for expected in ("queued", "dead"):
        entry, _ = claim(conn, "default")
        [result] = conn.scripts.giveback(
            q.keys, [(entry, job.id)], reclaim=True, max_reclaims=1, reason="gone", error=error
        )
        assert result.value == expected
        if expected == "queued":
            assert q.options(unique_key="k").enqueue(tasks.noop).id == job.id
    assert job.state == "dead"
    assert holder(conn, "default", "k") is None


def test_a_dead_lettered_delivery_releases_the_key(q: Queue, conn: Connection) -> None:
    job = q.options(unique_key="k").enqueue(tasks.noop)
    entry, _ = claim(conn, "default")
    assert conn.scripts.deadletter(q.keys, [(entry, job.id, "poison")]) == 1
    assert holder(conn, "default", "k") is None


def test_cancel_releases_the_key_of_a_queued_and_of_a_scheduled_job(q: Queue, conn: Connection) -> None:
    queued = q.options(unique_key="a").enqueue(tasks.noop)  # waits in its fresh entry alone
    scheduled = q.options(unique_key="b", delay=3600).enqueue(tasks.noop)
    assert queued.cancel() and scheduled.cancel()
    assert holder(conn, "default", "a") is None and holder(conn, "default", "b") is None
    # The tombstone the claim consumes leaves the new holder alone.
    fresh = q.options(unique_key="a").enqueue(tasks.noop)
    _entry, job_id = claim(conn, "default", want=2)
    assert job_id == fresh.id
    assert holder(conn, "default", "a") == fresh.id


def test_stop_releases_the_key(q: Queue, conn: Connection) -> None:
    job = q.options(unique_key="k").enqueue(tasks.noop)
    entry, _ = claim(conn, "default")
    assert job.stop()
    complete(conn, "default", entry, job.id, "succeeded")  # the stop wins: cancelled
    assert job.state == "cancelled"
    assert holder(conn, "default", "k") is None


def test_requeue_takes_the_key_again_unless_another_job_holds_it(q: Queue, conn: Connection) -> None:
    job = q.options(unique_key="k").enqueue(tasks.noop)
    entry, _ = claim(conn, "default")
    complete(conn, "default", entry, job.id, "failed")
    assert job.requeue() and holder(conn, "default", "k") == job.id
    entry, _ = claim(conn, "default")
    complete(conn, "default", entry, job.id, "failed")
    newer = q.options(unique_key="k").enqueue(tasks.noop)
    with pytest.raises(DuplicateJob, match=newer.id):
        job.requeue()


def test_purge_releases_the_keys_of_what_it_drops(q: Queue, conn: Connection) -> None:
    q.options(unique_key="a").enqueue(tasks.noop)
    q.options(unique_key="b", delay=3600).enqueue(tasks.noop)
    q.options(unique_key="c", job_id="chosen").enqueue(tasks.noop)
    q.purge()
    assert conn.redis.hlen(q.keys.unique) == 0


def test_a_worker_runs_the_job_and_the_key_is_free_again(q: Queue, quick_worker: object) -> None:
    quick_worker()  # type: ignore[operator]
    job = q.options(unique_key="k").enqueue(tasks.add, 2, 3)
    assert job.wait(timeout=10) == 5
    again = q.options(unique_key="k").enqueue(tasks.add, 1, 1)
    assert not again.duplicate and again.wait(timeout=10) == 2


def test_the_record_shows_its_key(q: Queue, conn: Connection) -> None:
    job = q.options(unique_key="shown").enqueue(tasks.noop)
    assert job.record().unique_key == "shown"
    _entry, _ = claim(conn, "default")
    assert Job(job.id, "default", conn).record().to_json()["unique_key"] == "shown"
    assert conn.redis.xpending(q.keys.stream, GROUP)["pending"] == 1
