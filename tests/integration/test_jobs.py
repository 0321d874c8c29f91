"""Enqueue, wait, fetch, cancel, result TTL, duplicate ids, batches: against a real server."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import redis
import tasks
from stream_jobs import job_of

from rqueues import (
    Connection,
    DuplicateJob,
    Job,
    JobCancelled,
    JobFailed,
    JobNotFound,
    JobOptions,
    Queue,
    WaitTimeout,
)
from rqueues.backend.keys import GROUP
from rqueues.enqueueing import ENQUEUE_CHUNK

StartWorker = Callable[..., Any]


def group_lag(conn: Connection, queue: str) -> Any:
    groups = conn.redis.xinfo_groups(conn.keys.queue(queue).stream)
    return next(g["lag"] for g in groups if g["name"] == GROUP.encode())


def test_enqueue_and_wait_returns_the_result(conn: Connection, quick_worker: StartWorker) -> None:
    q = Queue("default", conn)
    q.declare()
    quick_worker()
    job = q.enqueue(tasks.add, 2, 3)
    assert job.wait(timeout=10) == 5
    assert job.state == "succeeded"
    assert job.result == 5
    by_name = q.enqueue("tasks:echo", 1, "two", key={"nested": [1]})
    assert by_name.wait(timeout=10) == {"args": [1, "two"], "kwargs": {"key": {"nested": [1]}}}


def test_record_tells_who_ran_it_and_when(conn: Connection, quick_worker: StartWorker) -> None:
    q = Queue("default", conn)
    q.declare()
    worker = quick_worker()
    job = q.enqueue(tasks.noop)
    job.wait(timeout=10)
    rec = job.record()
    assert rec.function == "tasks:noop"
    assert rec.worker == worker.worker_id
    assert rec.attempts == 1
    assert rec.enqueued_at is not None and rec.started_at is not None and rec.finished_at is not None
    assert rec.enqueued_at <= rec.started_at <= rec.finished_at


def test_job_failed_carries_remote_type_message_and_traceback(
    conn: Connection, quick_worker: StartWorker
) -> None:
    q = Queue("default", conn)
    q.declare()
    quick_worker()
    job = q.enqueue(tasks.fail, "it broke")
    with pytest.raises(JobFailed) as info:
        job.wait(timeout=10)
    err = info.value
    assert err.job_id == job.id
    assert err.exc_type == "ValueError"
    assert err.message == "it broke"
    assert "Traceback" in err.traceback
    assert "tasks.py" in err.traceback and "in fail" in err.traceback
    assert "ValueError: it broke" in str(err)
    assert job.state == "failed"


def test_wait_times_out_with_a_clear_error(conn: Connection) -> None:
    q = Queue("default", conn)
    q.declare()
    job = q.enqueue(tasks.noop)  # no worker
    with pytest.raises(WaitTimeout) as info:
        job.wait(timeout=0.2)
    assert job.id in str(info.value)
    assert "queued" in str(info.value)


def test_fetch_finds_the_queue_by_itself(conn: Connection, quick_worker: StartWorker) -> None:
    Queue("first", conn).declare()
    second = Queue("second", conn)
    second.declare()
    job = second.enqueue(tasks.add, 1, 1)
    fetched = Job.fetch(job.id, conn)
    assert fetched == job
    assert fetched.queue == "second"
    assert fetched.state == "queued"
    quick_worker()
    assert fetched.wait(timeout=10) == 2
    with pytest.raises(JobNotFound) as info:
        Job.fetch("no-such-job", conn)
    assert "no-such-job" in str(info.value)


def test_cancel_leaves_a_tombstone_the_worker_acks_unrun(
    conn: Connection, quick_worker: StartWorker, redis_url: str
) -> None:
    q = Queue("default", conn)
    q.declare()
    keys = conn.keys.queue("default")
    doomed = q.enqueue(tasks.record, redis_url, "log", 0)
    assert doomed.cancel() is True
    assert doomed.state == "cancelled"
    # A tombstone, not XDEL: the entry stays and the group lag stays known.
    assert conn.redis.xlen(keys.stream) == 1
    assert group_lag(conn, "default") == 1
    with pytest.raises(JobCancelled):
        doomed.wait(timeout=5)

    after = q.enqueue(tasks.add, 1, 2)
    assert group_lag(conn, "default") == 2
    quick_worker()
    assert after.wait(timeout=10) == 3
    # The worker took the tombstone before the job behind it, and acked it without running it.
    assert conn.redis.lrange("log", 0, -1) == []
    assert doomed.state == "cancelled"
    assert conn.redis.xpending(keys.stream, GROUP)["pending"] == 0
    assert group_lag(conn, "default") == 0
    assert conn.redis.ttl(keys.job(doomed.id)) > 0  # the consumed tombstone's record expires too
    with pytest.raises(JobCancelled):
        doomed.wait(timeout=5)


def test_cancel_of_a_finished_job_is_refused(conn: Connection, quick_worker: StartWorker) -> None:
    q = Queue("default", conn)
    q.declare()
    quick_worker()
    job = q.enqueue(tasks.noop)
    job.wait(timeout=10)
    assert job.cancel() is False
    assert job.state == "succeeded"
    with pytest.raises(JobNotFound):
        q.job("never-enqueued").cancel()


def test_group_lag_stays_known_after_finished_entries_are_deleted(
    conn: Connection, quick_worker: StartWorker, redis_url: str, wait_until: Any
) -> None:
    # KEDA scales on the lag: deleting acknowledged entries must never make it NULL.
    q = Queue("default", conn)
    q.declare(concurrency=1)
    quick_worker(concurrency=2)
    for job in q.enqueue_many([(tasks.add, (i, i), {}) for i in range(10)]):
        job.wait(timeout=10)
    gated = q.enqueue(tasks.gated, redis_url, "lag:log", "lag:gate")
    behind = q.enqueue_many([(tasks.noop, (), {}) for _ in range(3)])
    wait_until(lambda: conn.redis.llen("lag:log") == 1, what="the gated job to start")
    assert group_lag(conn, "default") == 3  # an integer, and exact, with 10 entries deleted before
    assert q.info().waiting == 3
    conn.redis.rpush("lag:gate", "go")
    for job in [gated, *behind]:
        job.wait(timeout=10)
    assert group_lag(conn, "default") == 0
    assert conn.redis.xlen(conn.keys.queue("default").stream) == 0


def test_result_ttl_sets_an_expiry_on_finished_records(conn: Connection, quick_worker: StartWorker) -> None:
    q = Queue("default", conn)
    q.declare(result_ttl=120)
    keys = conn.keys.queue("default")
    quick_worker()
    ok = q.enqueue(tasks.noop)
    failed = q.enqueue(tasks.fail)
    short = q.options(result_ttl=5).enqueue(tasks.noop)
    ok.wait(timeout=10)
    with pytest.raises(JobFailed):
        failed.wait(timeout=10)
    short.wait(timeout=10)
    assert 100 < conn.redis.ttl(keys.job(ok.id)) <= 120
    assert 100 < conn.redis.ttl(keys.job(failed.id)) <= 120
    assert 0 < conn.redis.ttl(keys.job(short.id)) <= 5


def test_record_expires_after_its_ttl(conn: Connection, quick_worker: StartWorker, wait_until: Any) -> None:
    q = Queue("default", conn)
    q.declare()
    quick_worker()
    job = q.options(result_ttl=1).enqueue(tasks.noop)
    job.wait(timeout=10)
    wait_until(lambda: not conn.redis.exists(conn.keys.queue("default").job(job.id)), 5, "record expiry")
    with pytest.raises(JobNotFound):
        job.record()


def test_duplicate_job_id_refused(conn: Connection) -> None:
    q = Queue("default", conn)
    q.declare()
    keys = conn.keys.queue("default")
    first = q.options(job_id="order-42").enqueue(tasks.add, 1, 2)
    assert first.id == "order-42"
    with pytest.raises(DuplicateJob) as info:
        q.options(job_id="order-42").enqueue(tasks.add, 3, 4)
    assert "order-42" in str(info.value)
    assert conn.redis.xlen(keys.stream) == 1
    with pytest.raises(DuplicateJob):
        q.enqueue_many(
            [(tasks.noop, (), {}, JobOptions(job_id="a")), (tasks.noop, (), {}, JobOptions(job_id="a"))]
        )
    assert conn.redis.xlen(keys.stream) == 1
    assert not conn.redis.exists(keys.job("a"))
    # The stored record is the first one's, untouched.
    assert first.record().call() == ([1, 2], {})


def test_job_options_do_not_clash_with_the_functions_kwargs(
    conn: Connection, quick_worker: StartWorker
) -> None:
    q = Queue("default", conn)
    q.declare()
    quick_worker()
    job = q.enqueue(tasks.echo, job_id="mine", timeout=3, result_ttl=7)
    assert job.id != "mine"
    assert job.wait(timeout=10) == {"args": [], "kwargs": {"job_id": "mine", "timeout": 3, "result_ttl": 7}}


def count_sends(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count writes to the socket: each is one round trip's request."""
    sends: list[int] = []
    original = redis.connection.AbstractConnection.send_packed_command

    def counting(self: Any, command: Any, check_health: bool = True) -> None:
        sends.append(1)
        original(self, command, check_health)

    monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", counting)
    return sends


def command_stats(r: Any) -> dict[str, int]:
    return {name: stats["calls"] for name, stats in r.info("commandstats").items()}


@pytest.mark.parametrize("n", [1, 300, 1200])
def test_enqueue_many_is_one_round_trip_and_keeps_order(
    conn: Connection, redis_url: str, monkeypatch: pytest.MonkeyPatch, n: int
) -> None:
    q = Queue("default", conn)
    q.declare()
    q.enqueue(tasks.noop)  # the connection and scripts are warm, as in steady use
    observer = redis.Redis.from_url(redis_url)
    before = command_stats(observer)
    sends = count_sends(monkeypatch)
    jobs = q.enqueue_many([(tasks.add, (i, 1), {}) for i in range(n)])
    monkeypatch.undo()
    after = command_stats(observer)
    observer.close()
    delta = {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}
    delta.pop("cmdstat_info", None)
    assert len(sends) == 1, f"{len(sends)} round trips; commands: {delta}"
    # Commands scripts run count too; what the client sent is the EVALSHAs alone, one per chunk.
    assert not any(name.startswith("cmdstat_script") for name in delta), delta
    if n == 1:  # one job to run now with a generated id: one XADD, no script
        assert delta == {"cmdstat_xadd": 1}, delta
    else:
        assert delta["cmdstat_evalsha"] == -(-n // ENQUEUE_CHUNK)
    # Stream order is the batch order.
    entries = conn.redis.xrange(conn.keys.queue("default").stream)[1:]
    assert [job_of(q.keys, e, f) for e, f in entries] == [j.id for j in jobs]
    assert len({j.id for j in jobs}) == n
    assert jobs[-1].record().call() == ([n - 1, 1], {})


def test_enqueue_many_survives_an_emptied_script_cache(conn: Connection, quick_worker: StartWorker) -> None:
    # A restart or failover empties the script cache: the next batch must still go through.
    q = Queue("default", conn)
    q.declare()
    q.enqueue(tasks.noop)
    conn.redis.script_flush()
    jobs = q.enqueue_many([(tasks.add, (i, i), {}) for i in range(3)])
    quick_worker()
    assert [j.wait(timeout=10) for j in jobs] == [0, 2, 4]
