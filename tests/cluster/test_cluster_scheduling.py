"""Scheduling and flow control on a 3-primary Redis Cluster: delayed jobs, pause, the rate limit, cron."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from rqueues import Connection, Queue
from rqueues.backend.replies import ClaimKind
from rqueues.cron import add_cron, list_cron, tick_due
from rqueues.observe.snapshot import read_snapshot


def test_delayed_jobs_and_pause_resume(conn: Connection, start_worker: Any) -> None:
    q = Queue("later", conn)
    q.declare()
    q.pause()
    soon = q.enqueue_in(0.2, "tasks:add", 1, 2)
    past = q.enqueue_at(datetime.now(timezone.utc) - timedelta(seconds=1), "tasks:add", 2, 2)
    start_worker(queues=["later"], refresh_seconds=0.1)
    assert conn.scripts.claim(q.keys, "probe", 5, 30_000).kind is ClaimKind.PAUSED
    assert next(v for v in read_snapshot(conn).queues if v.name == "later").paused
    q.resume()
    assert past.wait(timeout=20) == 4
    assert soon.wait(timeout=20) == 3


def test_the_rate_limit_and_cron_keep_to_one_slot(conn: Connection) -> None:
    q = Queue("rated", conn)
    q.declare(rate_limit="3/h")
    q.enqueue_many([("tasks:noop", (), {}) for _ in range(5)])
    assert len(conn.scripts.claim(q.keys, "probe", 5, 30_000).deliveries) == 3
    assert conn.scripts.claim(q.keys, "probe", 5, 30_000).kind is ClaimKind.RATED
    add_cron(conn, "every5", "*/5 * * * *", "rated", "tasks:noop")
    created = float(conn.redis.hget(q.keys.cron_ticks, "every5") or 0) / 1000
    first = (created // 300 + 1) * 300
    assert tick_due(conn, now=first).enqueued == 1
    assert tick_due(conn, now=first).enqueued == 0
    assert list_cron(conn)[0].last_run == first
