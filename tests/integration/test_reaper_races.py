"""The reaper against writes that land in the middle of its pass, made deterministic by
hooking the step just before its decision, and its scripts under memory pressure."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
import redis
import tasks

from rqueues import Connection, Queue, Worker
from rqueues.backend.keys import GROUP
from rqueues.backend.replies import ClaimKind, Dropped
from rqueues.worker.reaper import Reaper
from rqueues.worker.shutdown import leave

DEAD_AFTER = 5.0


def redis_ms(conn: Connection) -> int:
    secs, micros = conn.redis.time()
    return int(secs * 1000 + micros // 1000)


def claim_as(conn: Connection, consumer: str) -> str:
    """Claim (which starts it) one job of 'default' as ``consumer``, as a worker would; its entry id."""
    keys = conn.keys.queue("default")
    reply = conn.scripts.claim(keys, consumer, 1, 60_000)
    assert reply.kind == ClaimKind.CLAIMED, reply.kind
    return reply.deliveries[0].entry


def pending(conn: Connection, consumer: str) -> list[str]:
    stream = conn.keys.queue("default").stream
    rows = conn.redis.xpending_range(stream, GROUP, "-", "+", 100, consumername=consumer)
    return [row["message_id"].decode() for row in rows]


def consumers(conn: Connection) -> set[str]:
    return {c["name"].decode() for c in conn.redis.xinfo_consumers(conn.keys.queue("default").stream, GROUP)}


@pytest.fixture
def q(conn: Connection) -> Queue:
    queue = Queue("default", conn)
    queue.declare()
    return queue


def test_a_heartbeat_stamped_during_a_pass_keeps_the_worker_registered(
    conn: Connection, q: Queue, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = redis_ms(conn)
    conn.redis.zadd(conn.keys.workers, {"w-paused": now - 10_000, "w-gone": now - 10_000})
    reaper = Reaper(conn, dead_after=DEAD_AFTER)
    declared = conn.declared_queues
    stamps: list[int] = []

    def beat_meanwhile() -> list[str]:
        # The registry was read as of `now`: w-paused looked dead. It beats now, mid-pass.
        stamps.append(conn.scripts.beat(conn.keys.workers, "w-paused"))
        return declared()

    monkeypatch.setattr(conn, "declared_queues", beat_meanwhile)
    reaper.reap_once(now_ms=now)
    monkeypatch.undo()
    assert stamps and conn.redis.zscore(conn.keys.workers, "w-paused") == stamps[0]
    assert conn.redis.zscore(conn.keys.workers, "w-gone") is None  # still stale: forgotten

    # The next pass sees a live worker and leaves its delivery alone.
    q.enqueue(tasks.noop)
    entry = claim_as(conn, "w-paused")
    report = reaper.reap_once()
    assert (report.dead_workers, report.requeued) == ([], 0)
    assert pending(conn, "w-paused") == [entry]


def test_a_claim_landing_as_the_reaper_drops_an_idle_consumer_keeps_its_pending_entry(
    conn: Connection, q: Queue, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The consumer has nothing pending when the pass looks; a claim under its name lands
    right before the reaper's last round trip for it. Checking and deleting in two steps
    dropped that delivery from the pending list, so the job stayed running forever."""
    stream = conn.keys.queue("default").stream
    conn.redis.xgroup_createconsumer(stream, GROUP, "w-new")  # not registered: the reaper drops it
    job = q.enqueue(tasks.noop)
    claimed: list[str] = []
    r = conn.redis
    delconsumer, send = r.xgroup_delconsumer, conn.scripts.send

    def claim_first() -> None:
        if not claimed:
            claimed.append(claim_as(conn, "w-new"))

    def hooked_delconsumer(*args: Any, **kwargs: Any) -> Any:
        claim_first()
        return delconsumer(*args, **kwargs)

    def hooked_send(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "drop_consumer":
            claim_first()
        return send(name, *args, **kwargs)

    monkeypatch.setattr(r, "xgroup_delconsumer", hooked_delconsumer)
    monkeypatch.setattr(conn.scripts, "send", hooked_send)
    Reaper(conn, dead_after=DEAD_AFTER).reap_once()
    monkeypatch.undo()

    assert claimed, "the reaper never tried to drop the idle consumer"
    assert pending(conn, "w-new") == claimed
    assert "w-new" in consumers(conn)
    assert job.state == "running"
    # And the delivery stays recoverable: once its worker counts as dead, it is given back.
    report = Reaper(conn, dead_after=DEAD_AFTER).reap_once()
    assert report.requeued == 1 and job.state == "queued"


def test_a_stopping_worker_leaves_only_the_groups_where_nothing_is_pending_for_it(
    conn: Connection, q: Queue
) -> None:
    Queue("other", conn).declare()
    worker = Worker(conn, worker_id="w-stopping", reaper=False)
    worker.refresh()
    q.enqueue(tasks.noop)
    entry = claim_as(conn, "w-stopping")
    conn.redis.xgroup_createconsumer(conn.keys.queue("other").stream, GROUP, "w-stopping")
    conn.redis.zadd(conn.keys.workers, {"w-stopping": redis_ms(conn)})
    leave(worker.conn, worker.worker_id, worker._consumed, worker.heartbeat)
    assert pending(conn, "w-stopping") == [entry] and "w-stopping" in consumers(conn)
    others = conn.redis.xinfo_consumers(conn.keys.queue("other").stream, GROUP)
    assert others == []
    # Something is pending for it: it stays registered, for the reaper to judge.
    assert conn.redis.zscore(conn.keys.workers, "w-stopping") is not None


@contextlib.contextmanager
def out_of_memory(conn: Connection) -> Iterator[None]:
    """Redis refusing every memory-growing write (noeviction at maxmemory)."""
    conn.redis.config_set("maxmemory", max(1, conn.redis.info("memory")["used_memory"] // 2))
    try:
        with pytest.raises(redis.ResponseError, match="maxmemory"):
            conn.redis.set("probe", "x")
        yield
    finally:
        conn.redis.config_set("maxmemory", 0)


def test_forgetting_workers_and_dropping_consumers_work_when_redis_is_out_of_memory(
    conn: Connection, q: Queue
) -> None:
    """Both scripts only remove: they run (allow-oom) while Redis refuses writes."""
    now = redis_ms(conn)
    conn.redis.zadd(conn.keys.workers, {"w-dead": now - 10_000, "w-live": now})
    keys = conn.keys.queue("default")
    conn.redis.xgroup_createconsumer(keys.stream, GROUP, "w-dead")
    cutoff = now - int(DEAD_AFTER * 1000) - 1
    with out_of_memory(conn):
        assert conn.scripts.forget_workers(conn.keys.workers, cutoff, ["w-dead", "w-live"]) == ["w-dead"]
        assert conn.scripts.drop_consumer(keys, "w-dead") is Dropped.GONE
    assert conn.redis.zrange(conn.keys.workers, 0, -1) == [b"w-live"]
    assert consumers(conn) == set()
