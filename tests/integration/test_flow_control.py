"""Pause and resume, and the global rate limit: both decided in the claim, next to the cap."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
import tasks
from click.testing import Result

from rqueues import ConfigurationError, Connection, Queue, QueueNotDeclared, Worker
from rqueues.backend.replies import ClaimKind
from rqueues.observe.snapshot import read_snapshot
from rqueues.observe.top import state
from rqueues.ratelimit import RateLimit, parse_rate

LOG = "flow:runs"


def starts(conn: Connection, log: str = LOG) -> list[float]:
    """The independent log: each job's own time.time() at its start."""
    return sorted(
        float(line.split()[2]) for line in conn.redis.lrange(log, 0, -1) if line.startswith(b"start")
    )


def most_in_window(times: list[float], window: float) -> int:
    """The most starts within any half-open window [t, t + window) over ``times``."""
    best, j = 0, 0
    for i, t in enumerate(times):
        while times[j] <= t - window:
            j += 1
        best = max(best, i - j + 1)
    return best


@pytest.mark.parametrize(
    ("text", "count", "window"),
    [
        ("100/s", 100, 1.0),
        ("30/m", 30, 60.0),
        ("1000/h", 1000, 3600.0),
        ("10/30s", 10, 30.0),
        (" 5 / d", 5, 86400.0),
    ],
)
def test_rate_limits_parse(text: str, count: int, window: float) -> None:
    assert parse_rate(text) == RateLimit(count, window)


@pytest.mark.parametrize("text", ["100", "100/x", "0/s", "-1/s", "fast", "1/0s"])
def test_a_bad_rate_limit_is_refused_naming_it(text: str) -> None:
    with pytest.raises(ConfigurationError, match="rate limit"):
        parse_rate(text)


def test_pause_holds_new_starts_while_running_jobs_finish_and_resume_wakes_workers(
    conn: Connection, redis_url: str, quick_worker: Callable[..., Worker], wait_until: Callable[..., Any]
) -> None:
    q = Queue("p", conn)
    q.declare()
    running = q.enqueue(tasks.gated, redis_url, LOG, "flow:gate")
    worker = quick_worker(concurrency=4)
    wait_until(lambda: running.state == "running", what="the gated job to start")
    q.pause()
    assert q.config().paused and q.info().paused
    later = [q.enqueue(tasks.record, redis_url, LOG, 0.0) for _ in range(3)]  # enqueues are accepted
    conn.redis.rpush("flow:gate", "go")
    assert running.wait(timeout=15) == running.id  # a running job finishes
    # Nothing starts while paused: the worker's claim says so, and blocks on the events stream.
    reply = conn.scripts.claim(q.keys, "probe", 10, 30_000)
    assert reply.kind is ClaimKind.PAUSED and reply.events_id
    assert all(j.state == "queued" for j in later) and q.info().waiting == 3
    assert len(starts(conn)) == 1
    # A declare keeps the pause.
    assert q.declare(concurrency=2).paused
    snap = read_snapshot(conn)
    view = next(v for v in snap.queues if v.name == "p")
    assert view.paused and state(view) == "paused"
    began = time.monotonic()
    q.resume()
    for job in later:
        assert job.wait(timeout=15) == job.id
    # Woken by the events stream, not by the next refresh: well under the blocked worker's timeout.
    assert time.monotonic() - began < 10
    assert not q.config().paused
    assert worker.queues == ["p"]


def test_pause_of_an_undeclared_queue_is_refused(conn: Connection) -> None:
    with pytest.raises(QueueNotDeclared):
        Queue("nowhere", conn).pause()
    assert not conn.redis.exists(conn.keys.queue("nowhere").config)


def test_concurrency_zero_stays_unlimited_with_a_rate_limit(conn: Connection) -> None:
    q = Queue("r", conn)
    config = q.declare(concurrency=0, rate_limit="5/m")
    assert config.concurrency == 0 and config.rate_limit == RateLimit(5, 60.0)
    for _ in range(8):
        q.enqueue(tasks.noop)
    reply = conn.scripts.claim(q.keys, "probe", 10, 30_000)
    assert reply.kind is ClaimKind.CLAIMED and len(reply.deliveries) == 5  # the rate, not a cap of 0
    denied = conn.scripts.claim(q.keys, "probe", 10, 30_000)
    assert denied.kind is ClaimKind.RATED and denied.permit_ms is not None
    assert denied.now_ms < denied.permit_ms <= reply.now_ms + 60_000
    assert conn.redis.zcard(q.keys.starts) == 5  # the log never holds more than the limit
    # Declaring without a rate limit clears it.
    q.declare()
    assert len(conn.scripts.claim(q.keys, "probe", 10, 30_000).deliveries) == 3


def test_the_rate_limit_holds_over_sliding_windows_across_workers_and_changes_at_runtime(
    conn: Connection,
    redis_url: str,
    worker_process: Callable[..., Any],
    wait_until: Callable[..., Any],
) -> None:
    q = Queue("rated", conn)
    q.declare(rate_limit="4/s")
    for _ in range(3):
        worker_process("--queues", "rated", "--concurrency", "4")
    first = [q.enqueue(tasks.record, redis_url, LOG, 0.0) for _ in range(16)]
    for job in first:
        job.wait(timeout=30)
    # The independent log, with a margin for the time between a claim and the job's own
    # clock reading; the records' start times, from the claim's own clock, without one.
    assert most_in_window(starts(conn), 0.8) <= 4
    recorded = sorted(j.record().started_at or 0 for j in first)
    assert most_in_window(recorded, 1.0) <= 4
    # Spread over at least 3 full windows: 16 starts at 4 per second.
    assert recorded[-1] - recorded[0] >= 2.9

    conn.redis.delete(LOG)
    q.declare(rate_limit="2/s")  # changed at runtime: the workers use it at their next claim
    second = [q.enqueue(tasks.record, redis_url, LOG, 0.0) for _ in range(8)]
    for job in second:
        job.wait(timeout=30)
    assert most_in_window(starts(conn), 0.8) <= 2
    recorded = sorted(j.record().started_at or 0 for j in second)
    assert most_in_window(recorded, 1.0) <= 2
    assert recorded[-1] - recorded[0] >= 2.9


def test_rate_bound_is_told_from_worker_bound(conn: Connection, start_worker: Callable[..., Worker]) -> None:
    q = Queue("slow", conn)
    q.declare(rate_limit="2/h")
    start_worker(queues=["slow"], concurrency=2, refresh_seconds=0.1)
    for _ in range(5):
        q.enqueue(tasks.noop)
    deadline = time.monotonic() + 15
    view = None
    while time.monotonic() < deadline:
        view = next(v for v in read_snapshot(conn).queues if v.name == "slow")
        # The snapshot's reads are not one atomic call: a claim may land between them.
        if view.rate_used >= 2 and view.consumers and view.waiting <= 3:
            break
        time.sleep(0.05)
    assert view is not None and view.rate_used == 2 and view.waiting == 3
    assert view.rate_saturated and state(view) == "rate-bound"
    assert view.rate_limit == pytest.approx(2 / 3600)


def test_cli_pause_resume_and_rate_limit(conn: Connection, cli: Callable[..., Result]) -> None:
    out = cli("declare", "c", "--rate-limit", "100/s")
    assert out.exit_code == 0 and "rate limit 100/s" in out.output
    assert cli("pause", "c").exit_code == 0
    table = cli("queues").output
    assert "paused" in table and "100/s" in table
    info = cli("info", "--sample", "0")
    assert "paused" in info.output
    assert cli("resume", "c").exit_code == 0
    assert not Queue("c", conn).config().paused
    bad = cli("declare", "c", "--rate-limit", "lots")
    assert bad.exit_code != 0 and "invalid rate limit 'lots'" in bad.output
    missing = cli("pause", "nowhere")
    assert missing.exit_code != 0 and "not declared" in missing.output


def test_the_exporter_shows_paused_and_rate_bound(conn: Connection) -> None:
    from prometheus_client import generate_latest

    from rqueues.observe.exporter import exporter_registry

    Queue("held", conn).declare()
    Queue("held", conn).pause()
    rated = Queue("rated", conn)
    rated.declare(rate_limit="2/h")
    for _ in range(3):
        rated.enqueue(tasks.noop)
    conn.scripts.claim(rated.keys, "probe", 10, 30_000)  # takes the window's 2 permits
    text = generate_latest(exporter_registry(conn)).decode()
    assert 'rqueues_queue_paused{queue="held"} 1.0' in text
    assert 'rqueues_queue_paused{queue="rated"} 0.0' in text
    assert 'rqueues_queue_rate_bound{queue="rated"} 1.0' in text
    assert 'rqueues_queue_rate_bound{queue="held"} 0.0' in text
    assert 'rqueues_queue_rate_limit_per_second{queue="rated"}' in text
    assert 'rqueues_queue_rate_limit_per_second{queue="held"}' not in text
