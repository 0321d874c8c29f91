"""Priorities within a queue (JobOptions.priority, levels.py): one stream per level in use,
read highest first by the claim in the same call that takes the leases (invariant 1), FIFO
within a level, a job given back ahead of every waiting job, every level's lag exact."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from typing import Any

import pytest
import tasks

from rqueues import Connection, Job, JobOptions, Queue
from rqueues.backend.keys import GROUP
from rqueues.backend.levels import RETURNED, level_of, ordered
from rqueues.backend.replies import ClaimKind
from rqueues.errors import ConfigurationError
from rqueues.observe.listing import list_jobs
from rqueues.observe.snapshot import read_snapshot
from rqueues.worker.reaper import Reaper


def claim_ids(conn: Connection, consumer: str, want: int, queue: str = "default") -> list[str]:
    """Job ids one claim takes (and starts), in the order it took them."""
    reply = conn.scripts.claim(conn.keys.queue(queue), consumer, want, 60_000)
    if reply.kind != ClaimKind.CLAIMED:
        return []
    return [d.job_id for d in reply.deliveries]


def lags(conn: Connection, queue: str = "default") -> dict[int, int]:
    """Each stream's group lag, by level, as KEDA's redis-streams scaler reads it."""
    keys = conn.keys.queue(queue)
    out = {}
    for level in ordered(conn.redis.hkeys(keys.levels)):
        [group] = [
            g for g in conn.redis.xinfo_groups(keys.level_stream(level)) if g["name"] == GROUP.encode()
        ]
        out[level] = group["lag"]
    return out


def started(conn: Connection, log_key: str) -> list[str]:
    return [
        line.decode().split()[1] for line in conn.redis.lrange(log_key, 0, -1) if line.startswith(b"start")
    ]


def test_priority_is_checked() -> None:
    for bad in (-1, 10, True, 2.5, "3"):
        with pytest.raises(ConfigurationError, match="priority"):
            JobOptions(priority=bad)  # type: ignore[arg-type]


def test_a_capped_queue_gives_its_leases_to_the_highest_priority_first(conn: Connection) -> None:
    q = Queue("default", conn)
    q.declare(concurrency=2)
    low = [q.enqueue(tasks.noop).id for _ in range(3)]
    high = [q.options(priority=7).enqueue(tasks.noop).id for _ in range(2)]
    mid = q.options(priority=3).enqueue(tasks.noop).id

    assert claim_ids(conn, "w1", 10) == high  # the cap (2) is checked once for every level
    assert conn.scripts.claim(conn.keys.queue("default"), "w2", 10, 60_000).kind == ClaimKind.CAPPED
    assert conn.redis.zcard(conn.keys.queue("default").leases) == 2
    conn.redis.delete(conn.keys.queue("default").leases)  # as if both finished
    assert claim_ids(conn, "w1", 2) == [mid, low[0]]


def test_a_worker_on_a_capped_queue_runs_high_priority_jobs_first_fifo_within_a_level(
    conn: Connection, start_worker: Callable[..., Any], wait_until: Callable[..., Any], redis_url: str
) -> None:
    q = Queue("default", conn)
    q.declare(concurrency=1)
    log = "test:log"
    ids: dict[int, list[str]] = {0: [], 4: [], 9: []}
    for i in range(9):  # interleaved: 0, 4, 9, 0, 4, 9, ...
        level = (0, 4, 9)[i % 3]
        ids[level].append(q.options(priority=level).enqueue(tasks.record, redis_url, log, 0).id)

    start_worker(concurrency=1)
    wait_until(lambda: len(started(conn, log)) == 9, what="every job ran")

    assert started(conn, log) == ids[9] + ids[4] + ids[0]


def test_a_job_given_back_by_the_reaper_runs_before_jobs_enqueued_after_it(
    q: Queue, conn: Connection
) -> None:
    first = q.enqueue(tasks.noop).id
    assert claim_ids(conn, "w-dead", 1) == [first]  # w-dead never registered: dead
    later = [q.enqueue(tasks.noop).id, q.options(priority=9).enqueue(tasks.noop).id]

    assert Reaper(conn).reap_once().requeued == 1

    assert q.job(first).state == "queued"
    assert lags(conn)[RETURNED] == 1
    assert claim_ids(conn, "w-live", 3) == [first, later[1], later[0]]
    assert q.job(first).record().attempts == 2


def test_cancel_wait_and_fetch_of_priority_jobs(
    q: Queue, conn: Connection, quick_worker: Callable[..., Any]
) -> None:
    doomed = q.options(priority=5).enqueue(tasks.add, 1, 2)
    chosen = q.options(priority=8, job_id="mine").enqueue(tasks.add, 2, 3)
    assert level_of(doomed.id.rpartition(":")[2]) == 5  # a generated id names its level

    fetched = Job.fetch(doomed.id, conn)
    assert (fetched.queue, fetched.state) == ("default", "queued")
    assert Job.fetch("mine", conn).state == "queued"
    assert doomed.cancel() is True
    assert doomed.state == "cancelled"

    quick_worker(concurrency=1)
    assert chosen.wait(timeout=10) == 5
    assert chosen.record().options.get("priority") == 8
    assert doomed.state == "cancelled"
    assert lags(conn) == {8: 0, 5: 0, 0: 0}  # the tombstone was consumed unrun


def test_a_listing_shows_queued_jobs_in_the_order_a_claim_takes_them(q: Queue, conn: Connection) -> None:
    order = {}
    for level in (0, 2, 9, 0, 2, 9):
        job = q.options(priority=level).enqueue(tasks.noop)
        order.setdefault(level, []).append(job.id)
    expected = order[9] + order[2] + order[0]

    assert [r.id for r in list_jobs(conn, ["default"], state="queued")] == expected
    paged: list[str] = []
    cursor = None
    for _ in range(10):  # pages of 2 cross from level to level without skipping or repeating
        page = list_jobs(conn, ["default"], state="queued", limit=2, cursor=cursor)
        paged += [r.id for r in page]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert paged == expected
    assert claim_ids(conn, "w", 1) == [order[9][0]]
    assert [r.id for r in list_jobs(conn, ["default"], state="queued")] == expected[1:]
    assert [r.id for r in list_jobs(conn, ["default"], state="running")] == [order[9][0]]


def test_each_levels_lag_is_exact_and_waiting_is_their_sum(q: Queue, conn: Connection) -> None:
    q.enqueue_many([(tasks.noop, (), {}, JobOptions(priority=lv)) for lv in (0,) * 5 + (4,) * 3 + (9,) * 2])
    assert lags(conn) == {9: 2, 4: 3, 0: 5}
    assert q.info().waiting == 10

    claim_ids(conn, "w", 4)
    assert lags(conn) == {9: 0, 4: 1, 0: 5}
    assert q.info().waiting == 6
    [view] = read_snapshot(conn).queues  # info, top and the exporter's rqueues_queue_waiting
    assert (view.waiting, view.lag_known, view.pending, view.running) == (6, True, 4, 0)  # w is not live

    assert q.purge().waiting == 6
    assert lags(conn) == {9: 0, 4: 0, 0: 0}
    assert q.info().waiting == 0


def test_delayed_and_retried_jobs_keep_their_priority(q: Queue, conn: Connection) -> None:
    q.enqueue(tasks.noop)
    delayed = q.options(priority=6, delay=0.05).enqueue(tasks.noop)
    deadline = time.monotonic() + 10
    while conn.scripts.promote(conn.keys.queue("default"), [delayed.id]) == 0:
        assert time.monotonic() < deadline, "never due"
        time.sleep(0.02)
    assert claim_ids(conn, "w", 1) == [delayed.id]


def test_deleting_a_queue_removes_its_level_streams(q: Queue, conn: Connection) -> None:
    q.options(priority=3).enqueue(tasks.noop)
    keys = conn.keys.queue("default")
    assert conn.redis.exists(keys.level_stream(3), keys.levels) == 2
    q.delete(force=True)
    assert conn.redis.exists(keys.level_stream(3), keys.levels) == 0


def test_the_reaper_recovers_a_priority_job_whose_worker_process_was_killed(
    conn: Connection,
    redis_url: str,
    worker_process: Callable[..., Any],
    wait_until: Callable[..., Any],
) -> None:
    q = Queue("default", conn)
    q.declare(concurrency=1)
    log, gate = "test:log", "test:gate"
    job = q.options(priority=4).enqueue(tasks.gated, redis_url, log, gate)
    later = q.enqueue(tasks.record, redis_url, log, 0)

    victim = worker_process("--concurrency", "1")
    wait_until(lambda: started(conn, log) == [job.id], what="the priority job started")
    victim.signal(signal.SIGKILL)
    victim.wait(10)

    conn.redis.rpush(gate, "go", "go")  # the next run of the gated job ends at once
    worker_process("--concurrency", "1")
    # Its reaper gives the job back once the killed worker's heartbeat is dead_after old.
    wait_until(lambda: job.state == "succeeded", timeout=30, what="the job ran again")
    rec = job.record()
    assert (rec.reclaims, rec.attempts) == (1, 2)
    wait_until(lambda: later.state == "succeeded", what="the later job ran")
    assert started(conn, log) == [job.id, job.id, later.id]  # given back ahead of it


def test_the_cli_enqueues_at_a_priority_and_refuses_one_out_of_range(
    q: Queue, conn: Connection, cli: Callable[..., Any]
) -> None:
    low = q.enqueue(tasks.noop).id
    result = cli("enqueue", "default", "tasks:noop", "--priority", "7")
    assert result.exit_code == 0, result.output
    high = result.output.strip()
    assert claim_ids(conn, "w", 2) == [high, low]

    refused = cli("enqueue", "default", "tasks:noop", "--priority", "10")
    assert refused.exit_code != 0 and "priority" in refused.output.lower()
    assert q.info().waiting == 0
