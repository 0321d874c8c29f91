"""Components stepped by hand with an injected clock: no sleeping, no monkeypatching."""

from __future__ import annotations

import tasks

from rqueues import Connection, Queue, Worker
from rqueues.worker.reaper import Reaper


def redis_ms(conn: Connection) -> int:
    secs, micros = conn.redis.time()
    return int(secs * 1000 + micros // 1000)


def test_run_once_claims_for_the_free_slots_under_the_cap_and_returns(conn: Connection) -> None:
    q = Queue("stepped", conn)
    q.declare(concurrency=2)
    jobs = [q.enqueue(tasks.add, i, i) for i in range(3)]
    worker = Worker(conn, concurrency=4, imports=["tasks"], reaper=False, worker_id="w-step")
    first = worker.run_once(block=False)  # no executor running: the claimed jobs only wait for slots
    assert first.claimed == 2
    assert q.info().running == 2  # two leases, taken with the jobs
    assert sorted(j.state for j in jobs) == ["queued", "running", "running"]
    second = worker.run_once(block=False)
    assert (second.claimed, second.idle) == (0, False)  # capped, not empty
    assert worker.slots.busy == 2


def test_reap_once_judges_liveness_at_the_time_it_is_given(conn: Connection) -> None:
    """A heartbeat ages by the clock passed in; a pass before dead_after takes nothing."""
    q = Queue("stepped", conn)
    q.declare()
    job = q.enqueue(tasks.noop)
    stepping = Worker(conn, reaper=False, worker_id="w-asleep")
    assert stepping.run_once(block=False).claimed == 1
    stamp = redis_ms(conn)
    conn.redis.zadd(conn.keys.workers, {"w-asleep": stamp})

    reaper = Reaper(conn, dead_after=5.0)
    early = reaper.reap_once(now_ms=stamp + 5_000)
    assert (early.requeued, early.dead_workers) == (0, [])
    assert job.state == "running"

    late = reaper.reap_once(now_ms=stamp + 5_001)
    assert (late.requeued, late.dead_workers) == (1, ["w-asleep"])
    rec = job.record()
    assert (rec.state, rec.reclaims) == ("queued", 1)
