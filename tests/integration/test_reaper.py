"""The reaper's decisions, one pass at a time (Reaper.reap_once), against a real server.

A "worker" here is often only a consumer name: the test claims jobs under that
name with the real claim and start scripts, then writes (or leaves out) its
heartbeat in the registry, which is all the reaper looks at.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest
import tasks
from click.testing import CliRunner
from stream_jobs import entry_jobs, streams

import rqueues.worker.heartbeat as heartbeat_module
from rqueues import Connection, Queue
from rqueues.backend.keys import GROUP
from rqueues.backend.replies import ClaimKind, GiveBack
from rqueues.cli import main
from rqueues.observe.listing import list_dead
from rqueues.worker.reaper import Health, Reaper, run_reaper

DEAD_AFTER = 5.0


def redis_ms(conn: Connection) -> int:
    secs, micros = conn.redis.time()
    return int(secs * 1000 + micros // 1000)


def beat(conn: Connection, worker: str, age: float) -> None:
    """Write ``worker``'s heartbeat as ``age`` seconds old."""
    conn.redis.zadd(conn.keys.workers, {worker: redis_ms(conn) - int(age * 1000)})


def claim_as(conn: Connection, queue: str, consumer: str, want: int = 1) -> list[tuple[str, str]]:
    """Claim (which starts them) up to ``want`` jobs as ``consumer``, as a worker would;
    (entry, job id) pairs."""
    keys = conn.keys.queue(queue)
    reply = conn.scripts.claim(keys, consumer, want, 60_000)
    assert reply.kind == ClaimKind.CLAIMED, reply.kind
    taken = [(d.entry, d.job_id) for d in reply.deliveries]
    return taken


def age_delivery(conn: Connection, queue: str, consumer: str, entry: str, idle_ms: int) -> None:
    """Make a pending delivery look ``idle_ms`` old, as if its job had run that long."""
    stream = conn.keys.queue(queue).stream
    conn.redis.xclaim(stream, GROUP, consumer, 0, [entry], idle=idle_ms, justid=True)


def pending(conn: Connection, queue: str, consumer: str | None = None) -> list[str]:
    rows = [
        row
        for stream in streams(conn.redis, conn.keys.queue(queue))
        for row in conn.redis.xpending_range(stream, GROUP, "-", "+", 1000, consumername=consumer)
    ]
    return [row["message_id"].decode() for row in rows]


def consumers(conn: Connection, queue: str) -> dict[str, int]:
    """Each consumer's pending deliveries over the queue's streams (its priority levels' too)."""
    out: dict[str, int] = {}
    for stream in streams(conn.redis, conn.keys.queue(queue)):
        for row in conn.redis.xinfo_consumers(stream, GROUP):
            name = row["name"].decode()
            out[name] = out.get(name, 0) + row["pending"]
    return out


def stream_jobs(conn: Connection, queue: str) -> list[tuple[str, str | None]]:
    return entry_jobs(conn.redis, conn.keys.queue(queue))


@pytest.fixture
def q(conn: Connection) -> Queue:
    queue = Queue("default", conn)
    queue.declare()
    return queue


def test_a_dead_workers_job_is_given_back_as_a_new_entry(
    conn: Connection, q: Queue, quick_worker: Callable[..., Any]
) -> None:
    keys = conn.keys.queue("default")
    job = q.enqueue(tasks.add, 2, 3)
    [(entry, _)] = claim_as(conn, "default", "w-dead")
    beat(conn, "w-dead", age=DEAD_AFTER + 1)

    report = Reaper(conn, dead_after=DEAD_AFTER, holder="test").reap_once()

    assert (report.requeued, report.dead_lettered, report.dead_workers) == (1, 0, ["w-dead"])
    [action] = report.actions
    assert (action["job"], action["entry"], action["outcome"]) == (job.id, entry, "queued")
    rec = job.record()
    assert (rec.state, rec.attempts, rec.reclaims) == ("queued", 1, 1)  # attempts kept, reclaim counted
    [error] = rec.errors
    assert (error["attempt"], error["type"]) == (1, "WorkerLost")
    assert "worker w-dead died (no heartbeat for" in error["message"]
    assert conn.redis.zscore(keys.leases, job.id) is None  # the dead worker's lease is dropped
    [(new_entry, new_job)] = stream_jobs(conn, "default")  # the old entry is gone, a new one waits
    assert new_job == job.id and new_entry != entry
    assert pending(conn, "default") == []
    assert "w-dead" not in consumers(conn, "default")  # nothing pending: removed from the group
    assert conn.redis.zscore(conn.keys.workers, "w-dead") is None  # and from the registry
    stats = conn.redis.hgetall(conn.keys.reaper)
    assert (stats[b"holder"], stats[b"reclaimed"], stats[b"dead_lettered"]) == (b"test", b"1", b"0")

    quick_worker()
    assert job.wait(timeout=15) == 5
    rec = job.record()
    assert (rec.state, rec.attempts, rec.reclaims) == ("succeeded", 2, 1)
    assert [e["type"] for e in rec.errors] == ["WorkerLost"]  # the history survives the success


def test_a_delivery_completed_meanwhile_is_not_given_back(conn: Connection, q: Queue) -> None:
    """The give-back checks and acts in one script: a worker that finished just before it wins."""
    keys = conn.keys.queue("default")
    job = q.enqueue(tasks.add, 2, 3)
    [(entry, _)] = claim_as(conn, "default", "w-slow")
    # The reaper decided w-slow is dead, but w-slow stores its outcome first.
    assert conn.scripts.complete(keys, [(entry, job.id, "succeeded", b"\x05", 60, 0)]) == 1

    replies = conn.scripts.giveback(
        keys, [(entry, job.id)], reclaim=True, max_reclaims=3, reason="worker w-slow died", error=b""
    )
    assert replies == [GiveBack.GONE]
    rec = job.record()
    assert (rec.state, rec.reclaims, rec.errors) == ("succeeded", 0, [])
    assert stream_jobs(conn, "default") == []  # no second run was queued


def test_a_live_workers_job_is_never_taken_however_long_it_runs(
    conn: Connection, q: Queue, redis_url: str, worker_thread: Callable[..., Any], wait_until: Any
) -> None:
    running = worker_thread(worker_id="w-live", reaper=False)
    job = q.enqueue(tasks.hold_first_attempt, redis_url, "live:log", "live:gate")
    wait_until(lambda: conn.redis.llen("live:log") == 1, what="the job to start")
    [entry] = pending(conn, "default", "w-live")
    age_delivery(conn, "default", "w-live", entry, idle_ms=6 * 3600 * 1000)  # "running for six hours"

    reaper = Reaper(conn, dead_after=DEAD_AFTER)
    for _ in range(3):
        report = reaper.reap_once()
        assert (report.requeued, report.orphans, report.dead_workers) == (0, 0, [])
    assert pending(conn, "default", "w-live") == [entry]
    assert job.record().state == "running"

    conn.redis.rpush("live:gate", "go")
    assert job.wait(timeout=15) == 1
    rec = job.record()
    assert (rec.attempts, rec.reclaims, rec.worker) == (1, 0, "w-live")
    running.stop()


def test_a_registered_consumer_with_a_fresh_heartbeat_keeps_old_deliveries(
    conn: Connection, q: Queue
) -> None:
    job = q.enqueue(tasks.noop)
    [(entry, _)] = claim_as(conn, "default", "w-busy")
    age_delivery(conn, "default", "w-busy", entry, idle_ms=24 * 3600 * 1000)
    beat(conn, "w-busy", age=DEAD_AFTER - 1)  # late, but not past dead_after

    report = Reaper(conn, dead_after=DEAD_AFTER).reap_once()
    assert (report.requeued, report.orphans, report.actions) == (0, 0, [])
    assert pending(conn, "default", "w-busy") == [entry]
    assert job.record().state == "running"
    assert conn.redis.zscore(conn.keys.workers, "w-busy") is not None


def test_an_unregistered_consumer_with_pending_entries_counts_as_dead(conn: Connection, q: Queue) -> None:
    job = q.enqueue(tasks.noop)
    claim_as(conn, "default", "ghost")  # never wrote a heartbeat (or its entry was removed)

    report = Reaper(conn, dead_after=DEAD_AFTER).reap_once()
    assert (report.requeued, report.dead_workers) == (1, ["ghost"])
    assert report.actions[0]["reason"] == "worker ghost died (not registered)"
    assert job.state == "queued"
    assert "ghost" not in consumers(conn, "default")


def test_orphans_of_a_live_consumer_are_given_back_once_their_lease_expired(
    conn: Connection, q: Queue
) -> None:
    """A live consumer's delivery with no live lease lost its outcome (e.g. Redis lost the last second
    of AOF): given back. One with a live lease, or too young to have lost it, stays."""
    keys = conn.keys.queue("default")
    orphan, kept, young = q.enqueue(tasks.noop), q.enqueue(tasks.noop), q.enqueue(tasks.noop)
    taken = dict((job, entry) for entry, job in claim_as(conn, "default", "w-live", want=3))
    beat(conn, "w-live", age=0)
    for job in (orphan, kept):
        age_delivery(conn, "default", "w-live", taken[job.id], idle_ms=60_000)
    expired = redis_ms(conn) - 1
    conn.redis.zadd(keys.leases, {taken[orphan.id]: expired, taken[young.id]: expired})  # by delivery

    report = Reaper(conn, dead_after=DEAD_AFTER).reap_once()

    assert (report.orphans, report.requeued, report.dead_workers) == (1, 1, [])
    [action] = report.actions
    assert (action["job"], action["reason"]) == (orphan.id, "lease of worker w-live expired")
    assert orphan.state == "queued"
    assert (kept.state, young.state) == ("running", "running")
    assert sorted(pending(conn, "default", "w-live")) == sorted([taken[kept.id], taken[young.id]])
    assert "w-live" in consumers(conn, "default")  # a live consumer stays in the group


def test_past_max_reclaims_the_job_is_dead_lettered_with_a_reason_naming_the_worker(
    conn: Connection,
) -> None:
    q = Queue("default", conn)
    q.declare(max_reclaims=1)
    keys = conn.keys.queue("default")
    job = q.enqueue(tasks.add, 1, 1)
    reaper = Reaper(conn, dead_after=DEAD_AFTER)

    claim_as(conn, "default", "w-first")
    assert reaper.reap_once().requeued == 1
    assert job.record().reclaims == 1
    [(entry, _)] = claim_as(conn, "default", "w-second")
    report = reaper.reap_once()

    assert (report.requeued, report.dead_lettered) == (0, 1)
    rec = job.record()
    assert (rec.state, rec.attempts, rec.reclaims) == ("dead", 2, 2)
    assert rec.reason == "worker w-second died (not registered); reclaimed 2 times (max_reclaims 1)"
    assert [(e["attempt"], e["type"]) for e in rec.errors] == [(1, "WorkerLost"), (2, "WorkerLost")]
    [dead] = list_dead(conn, ["default"])
    assert (dead.job_id, dead.reason) == (job.id, rec.reason)
    [(_, fields)] = conn.redis.xrange(keys.dead)
    assert fields[b"entry"].decode() == entry  # the delivery the dead worker held
    assert stream_jobs(conn, "default") == []  # not queued again
    assert conn.redis.zscore(keys.leases, job.id) is None
    assert pending(conn, "default") == []
    assert conn.redis.hget(conn.keys.reaper, "dead_lettered") == b"1"


def test_dead_consumers_leave_the_group_only_once_nothing_is_pending(conn: Connection, q: Queue) -> None:
    """A pass gives back at most 100 deliveries per consumer; the consumer stays until the last."""
    q.enqueue_many([(tasks.noop, (), {})] * 105)
    claim_as(conn, "default", "w-big", want=105)
    conn.redis.xgroup_createconsumer(conn.keys.queue("default").stream, GROUP, "w-idle-dead")
    conn.redis.xgroup_createconsumer(conn.keys.queue("default").stream, GROUP, "w-idle-live")
    beat(conn, "w-idle-live", age=0)
    reaper = Reaper(conn, dead_after=DEAD_AFTER)

    first = reaper.reap_once()
    assert first.requeued == 100
    assert consumers(conn, "default") == {"w-big": 5, "w-idle-live": 0}
    second = reaper.reap_once()
    assert second.requeued == 5
    assert consumers(conn, "default") == {"w-idle-live": 0}
    assert len(stream_jobs(conn, "default")) == 105


@pytest.fixture
def cli(redis_url: str) -> Callable[..., Any]:
    def run(*args: str) -> Any:
        result = CliRunner().invoke(main, [args[0], "--redis-url", redis_url, *args[1:]])
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    return run


def snapshot(conn: Connection) -> dict[bytes, Any]:
    """Everything stored, in a comparable form (delivery idle times left out: reading ages them)."""
    r = conn.redis
    out: dict[bytes, Any] = {}
    for key in sorted(r.keys("*")):
        kind = r.type(key)
        if kind == b"hash":
            out[key] = r.hgetall(key)
        elif kind == b"zset":
            out[key] = r.zrange(key, 0, -1, withscores=True)
        elif kind == b"set":
            out[key] = sorted(r.smembers(key))
        elif kind == b"string":
            out[key] = r.get(key)
        elif kind == b"stream":
            groups = r.xinfo_groups(key)
            out[key] = (
                r.xrange(key),
                [(g["name"], g["pending"], g["last-delivered-id"]) for g in groups],
                [
                    (row["message_id"], row["consumer"], row["times_delivered"])
                    for g in groups
                    for row in r.xpending_range(key, g["name"], "-", "+", 1000)
                ],
                [
                    sorted((c["name"], c["pending"]) for c in r.xinfo_consumers(key, g["name"]))
                    for g in groups
                ],
            )
        else:
            raise AssertionError(f"unexpected key type {kind!r} for {key!r}")
    return out


def test_dry_run_reports_and_changes_nothing(conn: Connection, q: Queue, cli: Callable[..., Any]) -> None:
    Queue("capped", conn).declare(concurrency=1, max_reclaims=0)
    jobs = [q.enqueue(tasks.noop), q.enqueue(tasks.noop)]
    poison = Queue("capped", conn).enqueue(tasks.noop)
    claim_as(conn, "default", "w-dead", want=2)
    claim_as(conn, "capped", "w-dead")
    beat(conn, "w-dead", age=60)
    beat(conn, "w-stale-idle", age=60)
    before = snapshot(conn)

    plan = cli("reaper", "--dry-run", "--dead-after", str(DEAD_AFTER))

    assert snapshot(conn) == before
    assert plan["would_give_back"] == 3
    assert plan["dead_workers"] == ["w-dead"]
    assert sorted(a["job"] for a in plan["actions"]) == sorted([*(j.id for j in jobs), poison.id])
    assert all(a["reason"].startswith("worker w-dead died (no heartbeat for") for a in plan["actions"])

    done = cli("reaper", "--once", "--dead-after", str(DEAD_AFTER))
    assert (done["requeued"], done["dead_lettered"]) == (2, 1)  # max_reclaims 0: dead at once
    assert [j.state for j in jobs] == ["queued", "queued"] and poison.state == "dead"
    assert conn.redis.zrange(conn.keys.workers, 0, -1) == []  # stale heartbeats cleared


@pytest.fixture
def reaper_thread() -> Iterator[Callable[..., threading.Event]]:
    """reaper_thread(reaper, healthy): run_reaper every 20 ms on a thread; stopped at teardown."""
    started: list[tuple[threading.Event, threading.Thread]] = []

    def start(reaper: Reaper, healthy: Callable[[], bool]) -> threading.Event:
        stop = threading.Event()
        thread = threading.Thread(target=run_reaper, args=(reaper, stop, 0.02, healthy), daemon=True)
        thread.start()
        started.append((stop, thread))
        return stop

    yield start
    for stop, thread in started:
        stop.set()
        thread.join(5)
        assert not thread.is_alive()


class Passes:
    """A healthy() callback that counts the reaper's passes, so a test can wait for a few of them."""

    def __init__(self, healthy: Callable[[], bool]) -> None:
        self.healthy = healthy
        self.count = 0
        self.cond = threading.Condition()

    def __call__(self) -> bool:
        with self.cond:
            self.count += 1
            self.cond.notify_all()
        return self.healthy()

    def wait_for_more(self, n: int) -> None:
        with self.cond:
            target = self.count + n
            assert self.cond.wait_for(lambda: self.count >= target, timeout=10), "the reaper stopped passing"


def test_one_reaper_acts_at_a_time(
    conn: Connection, q: Queue, reaper_thread: Callable[..., Any], wait_until: Any
) -> None:
    first, second = Reaper(conn, holder="first"), Reaper(conn, holder="second")
    assert first.try_lock(60_000)
    assert not second.try_lock(60_000)
    assert conn.redis.get(conn.keys.reaper_lock) == b"first"
    assert 0 < conn.redis.pttl(conn.keys.reaper_lock) <= 60_000  # left to expire, never held for good

    job = q.enqueue(tasks.noop)
    claim_as(conn, "default", "ghost")
    passes = Passes(lambda: True)
    reaper_thread(second, passes)
    passes.wait_for_more(3)
    # "first" holds the lock: "second" passed without acting.
    assert (job.state, conn.redis.exists(conn.keys.reaper)) == ("running", 0)

    conn.redis.delete(conn.keys.reaper_lock)  # as when the lock expires
    # A pass records itself last, after giving the job back.
    wait_until(
        lambda: conn.redis.hget(conn.keys.reaper, "holder") == b"second", what="the second reaper to act"
    )
    assert job.state == "queued"


def test_no_reaping_until_redis_has_answered_for_dead_after(
    conn: Connection,
    q: Queue,
    reaper_thread: Callable[..., Any],
    wait_until: Any,
) -> None:
    """After an outage every heartbeat is stale; the reaper waits until live workers could beat again."""
    clock = [0.0]
    health = Health(settle=DEAD_AFTER, clock=lambda: clock[0])
    health.failed()
    health.ok()  # Redis answers again at t=0

    job = q.enqueue(tasks.noop)
    claim_as(conn, "default", "w-stale")
    beat(conn, "w-stale", age=60)
    passes = Passes(health.settled)
    reaper_thread(Reaper(conn, dead_after=DEAD_AFTER), passes)
    clock[0] = DEAD_AFTER - 0.1
    passes.wait_for_more(3)
    assert job.state == "running"
    assert conn.redis.zscore(conn.keys.workers, "w-stale") is not None

    clock[0] = DEAD_AFTER
    wait_until(lambda: job.state == "queued", what="the reaper to act once Redis has settled")


def test_a_worker_reaps_on_its_own(
    conn: Connection, q: Queue, worker_thread: Callable[..., Any], wait_until: Any
) -> None:
    """No `rqueues reaper` needed: a running worker gives back a dead worker's job and then runs it."""
    job = q.enqueue(tasks.add, 20, 22)
    claim_as(conn, "default", "w-dead")
    beat(conn, "w-dead", age=60)
    running = worker_thread(worker_id="w-reaping", dead_after=2.0, heartbeat_seconds=0.5)
    assert job.wait(timeout=20) == 42
    rec = job.record()
    assert (rec.worker, rec.attempts, rec.reclaims) == ("w-reaping", 2, 1)
    # The pass records itself after giving jobs back: the job may finish first.
    wait_until(lambda: conn.redis.hget(conn.keys.reaper, "holder") == b"w-reaping", what="the pass record")
    running.stop()


def test_a_live_worker_with_a_slow_clock_keeps_its_job(
    conn: Connection,
    q: Queue,
    redis_url: str,
    worker_thread: Callable[..., Any],
    wait_until: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Regression: heartbeats were stamped with the worker host's clock and aged with Redis' clock, so a
    worker whose clock ran dead_after behind looked dead while it beat every second."""
    behind = SimpleNamespace(time=lambda: time.time() - 60, monotonic=time.monotonic)
    monkeypatch.setattr(heartbeat_module, "time", behind)
    running = worker_thread(worker_id="w-skewed", reaper=False)
    job = q.enqueue(tasks.hold_first_attempt, redis_url, "skew:log", "skew:gate")
    wait_until(lambda: conn.redis.llen("skew:log") == 1, what="the job to start")

    report = Reaper(conn, dead_after=DEAD_AFTER).reap_once()
    assert (report.requeued, report.dead_workers) == (0, [])
    assert job.record().state == "running"
    conn.redis.rpush("skew:gate", "go")
    assert job.wait(timeout=15) == 1
    running.stop()


def test_a_cpu_bound_job_does_not_starve_its_workers_heartbeat(
    conn: Connection, q: Queue, worker_thread: Callable[..., Any], wait_until: Any
) -> None:
    """Invariant 3 (docs/internals.md): the heartbeat thread keeps beating while a job burns CPU in
    Python code, so a job running for longer than dead_after on a live worker is never taken from it."""
    worker_thread(worker_id="w-busy", reaper=False, dead_after=2.0, heartbeat_seconds=0.5)
    job = q.enqueue(tasks.spin, 4.0)
    wait_until(lambda: job.state == "running", what="the job to start")
    reaper = Reaper(conn, dead_after=2.0)
    deadline = time.monotonic() + 3.0  # past dead_after, while the job still spins
    passes = 0
    while time.monotonic() < deadline:
        report = reaper.reap_once()
        assert (report.requeued, report.dead_workers) == (0, [])
        passes += 1
        time.sleep(0.25)
    assert passes >= 8
    assert job.wait(timeout=20) > 0
    rec = job.record()
    assert (rec.worker, rec.attempts, rec.reclaims) == ("w-busy", 1, 0)
