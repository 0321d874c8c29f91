"""Invariant 8: when Redis refuses writes (noeviction at maxmemory), nothing new is claimed or
enqueued, while heartbeats, renewals, completions and releases go through.

Each test runs against its own server (the session server is shared), pushed out of memory
by lowering maxmemory below what it uses, the way an operator's Redis fills up.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis
import tasks
from click.testing import CliRunner
from prometheus_client import generate_latest

from rqueues import Connection, Queue, RedisOutOfMemory, Worker
from rqueues.backend.keys import GROUP
from rqueues.backend.replies import ClaimKind, GiveBack, HandleReply, Verdict
from rqueues.cli import main
from rqueues.observe.exporter import exporter_registry
from rqueues.observe.snapshot import read_snapshot
from rqueues.observe.top import render
from rqueues.worker.reaper import Health, Reaper, writes_settled

OOM = redis.exceptions.OutOfMemoryError


def refuse_writes(conn: Connection) -> None:
    """Lower maxmemory below the memory in use, as when Redis fills up."""
    used = int(conn.redis.info("memory")["used_memory"])
    conn.redis.config_set("maxmemory", max(1, used // 2))
    assert not conn.accepts_writes()


def accept_writes(conn: Connection) -> None:
    conn.redis.config_set("maxmemory", 0)
    assert conn.accepts_writes()


def ms(conn: Connection) -> int:
    secs, micros = conn.redis.time()
    return int(secs * 1000 + micros // 1000)


def test_under_oom_nothing_new_is_claimed_started_enqueued_promoted_or_requeued(oom_conn: Connection) -> None:
    conn = oom_conn
    q = Queue("capped", conn)
    q.declare(concurrency=2)
    keys = conn.keys.queue("capped")
    waiting = q.enqueue(tasks.noop)
    later = q.options(delay=0.001).enqueue(tasks.noop)
    time.sleep(0.01)  # due now
    refuse_writes(conn)

    with pytest.raises(OOM):
        conn.scripts.claim(keys, "w-a", 2, 60_000)
    with pytest.raises(OOM):
        conn.scripts.promote(keys, [later.id])
    with pytest.raises(OOM):
        conn.scripts.requeue(keys, waiting.id)
    with pytest.raises(RedisOutOfMemory) as info:
        q.enqueue(tasks.noop)
    assert "out of memory" in str(info.value) and "maxmemory" in str(info.value)
    assert "noeviction" in str(info.value)
    with pytest.raises(RedisOutOfMemory):
        q.enqueue_many([(tasks.noop, (), {})] * 3)
    with pytest.raises(RedisOutOfMemory):
        q.declare(concurrency=3)
    result = CliRunner().invoke(main, ["enqueue", "--redis-url", conn.url, "capped", "tasks:noop"])
    assert result.exit_code == 1 and "is out of memory and refuses writes" in result.output
    assert "Traceback" not in result.output

    accept_writes(conn)
    assert (waiting.state, later.state) == ("queued", "scheduled")
    assert conn.redis.xlen(keys.stream) == 1 and conn.redis.zcard(keys.leases) == 0
    assert conn.scripts.claim(keys, "w-a", 2, 60_000).kind is ClaimKind.CLAIMED


def test_under_oom_heartbeats_renewals_completions_and_releases_go_through(oom_conn: Connection) -> None:
    conn = oom_conn
    q = Queue("capped", conn)
    q.declare(concurrency=4)
    keys = conn.keys.queue("capped")
    jobs = q.enqueue_many([(tasks.noop, (), {})] * 4)
    watched = jobs[0]
    reply = conn.scripts.claim(keys, "w-a", 4, 1_000)
    done, dead, back, running = reply.deliveries
    refuse_writes(conn)
    events = conn.redis.xlen(keys.events)

    stamp = conn.scripts.beat(conn.keys.workers, "w-a")
    assert conn.redis.zscore(conn.keys.workers, "w-a") == stamp
    assert conn.scripts.renew(keys, "w-a", [running.entry], 60_000) == []
    assert conn.redis.zscore(keys.leases, running.entry) > ms(conn) + 30_000
    assert conn.scripts.watch(keys, watched.id) is not None
    assert conn.scripts.complete(keys, [(done.entry, done.job_id, "succeeded", b"\xc0", 60, 0)]) == 1
    assert conn.scripts.deadletter(keys, [(dead.entry, dead.job_id, "bad")]) == 1
    [given] = conn.scripts.giveback(
        keys, [(back.entry, back.job_id)], reclaim=False, max_reclaims=0, reason="stopping", error=b""
    )
    assert given is GiveBack.QUEUED
    assert conn.scripts.stop(keys, running.job_id) == HandleReply(Verdict.DONE, "w-a")

    assert [j.state for j in jobs] == ["succeeded", "dead", "queued", "running"]
    assert conn.redis.zrange(keys.leases, 0, -1) == [running.entry.encode()]
    assert conn.redis.xlen(keys.events) > events  # the releases woke waiters
    assert conn.redis.xpending(keys.stream, GROUP)["pending"] == 1


def test_the_reaper_gives_nothing_back_while_redis_refuses_writes(oom_conn: Connection) -> None:
    conn = oom_conn
    q = Queue("default", conn)
    q.declare()
    job = q.enqueue(tasks.noop)
    keys = conn.keys.queue("default")
    conn.scripts.claim(keys, "w-stale", 1, 60_000)
    conn.redis.zadd(conn.keys.workers, {"w-stale": ms(conn) - 60_000})
    clock = [0.0]
    healthy = writes_settled(conn, Health(settle=5.0, clock=lambda: clock[0]))
    assert not healthy()  # first answer: not settled yet
    clock[0] = 10.0
    assert healthy()
    refuse_writes(conn)

    assert conn.redis.ping()  # PING still answers: it is no health check
    assert not healthy()
    clock[0] = 100.0
    assert not healthy()  # however long it lasts
    with pytest.raises(RedisOutOfMemory):
        Reaper(conn).reap_once()
    assert job.state == "running"

    accept_writes(conn)
    assert not healthy()  # writes go through again: settle before reaping
    clock[0] = 105.0
    assert healthy()
    assert Reaper(conn).reap_once().requeued == 1


def test_the_exporter_and_info_show_redis_refusing_writes_and_still_count(oom_conn: Connection) -> None:
    """Redis 7.0 refuses even reads inside MULTI while out of memory: the counts must not go dark."""
    conn = oom_conn
    q = Queue("default", conn)
    q.declare()
    q.enqueue_many([(tasks.noop, (), {})] * 2)
    registry = exporter_registry(conn)

    def gauge(name: str = "rqueues_redis_out_of_memory", **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    assert gauge() == 0
    refuse_writes(conn)
    assert gauge() == 1
    assert b"rqueues_redis_out_of_memory 1.0" in generate_latest(registry)
    assert gauge("rqueues_queue_waiting", queue="default") == 2
    assert gauge("rqueues_exporter_redis_up") == 1
    assert q.info().waiting == 2
    assert "Redis is out of memory and refuses writes" in render(read_snapshot(conn), {}, {})
    accept_writes(conn)
    assert gauge() == 0
    assert not read_snapshot(conn).refusing_writes


def test_a_worker_keeps_its_running_job_through_oom_logs_it_once_and_resumes(
    oom_conn: Connection, caplog: pytest.LogCaptureFixture, wait_until: Callable[..., Any]
) -> None:
    """A capped queue under a 1 s lease: the running job outlives its lease several times
    over while Redis refuses writes, keeps its lease, and completes; the next job waits."""
    conn = oom_conn
    caplog.set_level(logging.INFO, logger="rqueues.worker")
    q = Queue("capped", conn)
    q.declare(concurrency=1)
    keys = conn.keys.queue("capped")
    name = "oom:long"
    event = tasks.EVENTS.setdefault(name, threading.Event())
    long = q.enqueue(tasks.wait_for_event, name)
    nxt = q.enqueue(tasks.noop)
    worker = Worker(
        conn, imports=["tasks"], concurrency=2, lease_seconds=1.0, heartbeat_seconds=0.2,
        dead_after=1.0, refresh_seconds=0.1,
    )  # fmt: skip
    thread = threading.Thread(target=worker.run, kwargs={"install_signals": False}, daemon=True)
    thread.start()
    try:
        wait_until(lambda: long.state == "running", what="the long job to start")
        [lease] = conn.redis.zrange(keys.leases, 0, -1)
        refuse_writes(conn)
        deadline = time.monotonic() + 3.0  # three lease periods
        while time.monotonic() < deadline:
            assert conn.redis.zscore(keys.leases, lease) is not None, "the running job lost its lease"
            assert nxt.state == "queued"
            time.sleep(0.05)
        with pytest.raises(RedisOutOfMemory):
            q.enqueue(tasks.noop)
        event.set()  # the long job ends while Redis still refuses writes: its outcome is stored
        assert long.wait(timeout=10) == name
        assert nxt.state == "queued"
        accept_writes(conn)
        assert nxt.wait(timeout=10) is None
        assert long.record().attempts == 1 and nxt.record().attempts == 1
    finally:
        event.set()
        worker.stop()
        thread.join(15)
        tasks.EVENTS.pop(name, None)
    assert not thread.is_alive()
    messages = [r.getMessage() for r in caplog.records]
    assert len([m for m in messages if m.startswith("Redis is out of memory")]) == 1, messages
    assert len([m for m in messages if m.startswith("Redis accepts writes again")]) == 1, messages
    assert not [m for m in messages if "expired before renewal" in m]
