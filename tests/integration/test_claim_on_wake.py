"""The claims behind a blocking read: an idle worker's wake-up and its next claim are one
round trip (Dispatcher.block), and they never take more jobs than there are free slots.

The worker's threads are not started: the test drives its dispatcher by hand, so what
one block() took is exact.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import redis
import tasks

from rqueues import Connection, Queue, Worker
from rqueues.worker.execution import Claimed
from rqueues.worker.shutdown import hand_back


@pytest.fixture
def worker(conn: Connection) -> Iterator[Worker]:
    for name in ("a", "b"):
        Queue(name, conn).declare()
    w = Worker(conn, imports=["tasks"], worker_id="w-wake", reaper=False, concurrency=3)
    w.refresh()
    submitted: list[Claimed] = []
    w.dispatcher.executor.submit = submitted.append  # type: ignore[method-assign]
    w.submitted = submitted  # type: ignore[attr-defined]
    yield w


def held(worker: Worker) -> list[Claimed]:
    return [job for jobs in worker.held.snapshot().values() for job in jobs]


def commands(conn: Connection) -> dict[str, int]:
    stats = conn.redis.info("commandstats")
    return {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in stats.items()}


def test_a_job_that_wakes_an_idle_worker_is_claimed_by_the_wake_itself(
    conn: Connection, worker: Worker
) -> None:
    idle = worker.dispatcher.claim_once()
    assert idle.claimed == 0 and sorted(idle.waiting) == ["a", "b"]
    job = {}

    def enqueue_later() -> None:
        time.sleep(0.3)  # the read below is blocked by then
        job["id"] = Queue("b", conn).enqueue("tasks:noop").id

    threading.Thread(target=enqueue_later).start()
    before = commands(conn)
    woke = worker.dispatcher.block(idle, timeout=10.0, stopping=lambda: False)
    after = commands(conn)

    assert woke.claimed == 1
    [started] = worker.submitted  # type: ignore[attr-defined]
    assert (started.queue, started.job_id) == ("b", job["id"])
    assert Queue("b", conn).job(job["id"]).state == "running"
    # One XREAD and the two queues' claims behind it: no claim of its own after the wake.
    assert after.get("xread", 0) - before.get("xread", 0) == 1
    assert after["evalsha"] - before["evalsha"] == 2


def test_the_claims_behind_a_wake_share_the_free_slots(conn: Connection, worker: Worker) -> None:
    idle = worker.dispatcher.claim_once()
    for name in ("a", "b"):
        Queue(name, conn).enqueue_many([("tasks:noop", (), {})] * 5)

    woke = worker.dispatcher.block(idle, timeout=10.0, stopping=lambda: False)

    assert woke.claimed == 3  # the worker's 3 slots, however many jobs each queue has
    assert sorted(j.queue for j in held(worker)) == ["a", "a", "b"] or sorted(
        j.queue for j in held(worker)
    ) == ["a", "b", "b"]
    assert worker.slots.free == 0
    assert len(worker.submitted) == 3  # type: ignore[attr-defined]
    assert (
        len(conn.redis.zrange(conn.keys.queue("a").leases, 0, -1))
        + len(conn.redis.zrange(conn.keys.queue("b").leases, 0, -1))
        == 3
    )


def test_jobs_a_wake_claims_while_the_worker_stops_are_held_for_the_hand_back_not_run(
    conn: Connection, worker: Worker
) -> None:
    idle = worker.dispatcher.claim_once()
    job = Queue("a", conn).enqueue("tasks:noop")

    woke = worker.dispatcher.block(idle, timeout=10.0, stopping=lambda: True)

    assert woke.claimed == 1
    assert worker.submitted == []  # type: ignore[attr-defined]
    assert worker.slots.busy == 0
    assert [j.job_id for j in held(worker)] == [job.id]
    hand_back(conn, worker.held, held(worker))  # what a stopping worker does with what it holds
    assert job.state == "queued"
    assert conn.redis.zcard(conn.keys.queue("a").leases) == 0


@pytest.fixture
def lending(conn: Connection) -> Iterator[Worker]:
    """A worker whose slot threads run (its other threads do not): block() lends its wake."""
    Queue("a", conn).declare()
    w = Worker(conn, imports=["tasks"], worker_id="w-lend", reaper=False, concurrency=2)
    w.refresh()
    threads = w.dispatcher.executor.executors["thread"]  # type: ignore[attr-defined]
    threads.start()
    yield w
    threads.stop(5.0)


def test_the_wake_runs_on_a_slot_thread_and_the_caller_observes_its_jobs(
    conn: Connection, lending: Worker, monkeypatch: pytest.MonkeyPatch
) -> None:
    where: dict[str, object] = {}
    wake = lending.dispatcher._claim_on_wake

    def claim_on_wake(*args: object) -> object:
        where["wake"] = threading.current_thread().name
        return wake(*args)  # type: ignore[arg-type]

    def claimed(queue: str, jobs: list[Claimed]) -> None:
        where["observed"] = (threading.current_thread(), [j.job_id for j in jobs])

    monkeypatch.setattr(lending.dispatcher, "_claim_on_wake", claim_on_wake)
    monkeypatch.setattr(lending.dispatcher.observer, "claimed", claimed)
    idle = lending.dispatcher.claim_once()
    job = Queue("a", conn).enqueue("tasks:add", 2, 3)

    woke = lending.dispatcher.block(idle, timeout=10.0, stopping=lambda: False)

    assert woke.claimed == 1
    assert str(where["wake"]).startswith("rqueues-slot-")
    assert where["observed"] == (threading.current_thread(), [job.id])


def test_an_error_of_a_lent_wake_is_raised_to_the_caller(
    conn: Connection, lending: Worker, monkeypatch: pytest.MonkeyPatch
) -> None:
    idle = lending.dispatcher.claim_once()
    Queue("a", conn).enqueue("tasks:noop")

    def refused(*args: object) -> object:
        raise RuntimeError("refused on the slot thread")

    monkeypatch.setattr(lending.dispatcher, "_claim_on_wake", refused)
    with pytest.raises(RuntimeError, match="refused on the slot thread"):
        lending.dispatcher.block(idle, timeout=10.0, stopping=lambda: False)


def test_under_oom_the_claims_behind_a_wake_start_nothing_and_raise(oom_conn: Connection) -> None:
    """Invariant 8 on the wake-up path: the claim is refused whole, the error reaches the
    dispatcher's loop (which backs off), and the job waits with no lease and no slot taken."""
    conn = oom_conn
    Queue("a", conn).declare()
    w = Worker(conn, imports=["tasks"], worker_id="w-oom", reaper=False, concurrency=2)
    w.refresh()
    idle = w.dispatcher.claim_once()
    job = Queue("a", conn).enqueue("tasks:noop")
    used = int(conn.redis.info("memory")["used_memory"])
    conn.redis.config_set("maxmemory", max(1, used // 2))

    with pytest.raises(redis.exceptions.OutOfMemoryError):
        w.dispatcher.block(idle, timeout=10.0, stopping=lambda: False)

    conn.redis.config_set("maxmemory", 0)
    assert job.state == "queued"
    assert conn.redis.zcard(conn.keys.queue("a").leases) == 0
    assert w.slots.busy == 0 and held(w) == []


def test_a_wake_while_every_slot_runs_a_job_does_not_wait_for_a_slot_thread(
    conn: Connection, lending: Worker
) -> None:
    """Room ahead (short jobs so far) lets a claim take more while both slots run jobs: the
    wake-up then runs on the caller's thread, not queued behind the running jobs."""
    q = Queue("a", conn)
    idle = lending.dispatcher.claim_once()  # nothing yet: what to block on
    gate = tasks.EVENTS.setdefault("wake-busy-slots", threading.Event())
    for _ in range(2):
        q.enqueue(tasks.wait_for_event, "wake-busy-slots")
    woke: list[object] = []
    try:
        assert lending.dispatcher.claim_once().claimed == 2  # both slot threads run a job
        lending.slots.ahead_limit = 4  # as while claiming ahead of short jobs
        job = q.enqueue(tasks.noop)
        caller = threading.Thread(
            target=lambda: woke.append(lending.dispatcher.block(idle, timeout=5.0, stopping=lambda: False))
        )
        caller.start()
        caller.join(5.0)
        assert not caller.is_alive()  # it returned while the jobs still run
        assert [r.claimed for r in woke] == [1]  # type: ignore[attr-defined]
        assert [j.job_id for j in held(lending) if not j.function.endswith("wait_for_event")] == [job.id]
    finally:
        gate.set()
        tasks.EVENTS.pop("wake-busy-slots", None)
