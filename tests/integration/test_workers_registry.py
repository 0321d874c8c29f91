"""`rqueues workers`: live workers with host, pid, tags, queues, running jobs and last heartbeat."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import pytest
import tasks
from click.testing import CliRunner

from rqueues import Connection, Queue
from rqueues.cli import main


@pytest.fixture
def workers(redis_url: str) -> Callable[..., Any]:
    def run(*args: str) -> Any:
        result = CliRunner().invoke(main, ["workers", "--redis-url", redis_url, *args])
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout) if "--json" in args else result.stdout

    return run


def test_workers_lists_live_workers_and_drops_them_on_a_clean_stop(
    conn: Connection,
    redis_url: str,
    workers: Callable[..., Any],
    worker_thread: Callable[..., Any],
    wait_until: Any,
) -> None:
    Queue("gpu", conn).declare(tags=["has=gpu"])
    Queue("default", conn).declare()
    gpu = worker_thread(worker_id="w-gpu", tags=["has=gpu"], concurrency=3)
    plain = worker_thread(worker_id="w-plain", concurrency=2)
    job = Queue("gpu", conn).enqueue(tasks.gated, redis_url, "reg:log", "reg:gate")
    wait_until(lambda: conn.redis.llen("reg:log") == 1, what="the job to start")

    def row(worker_id: str) -> dict[str, Any] | None:
        return next((r for r in workers("--json") if r["id"] == worker_id), None)

    # The registry is rewritten on each heartbeat (every second): wait for one after the job started.
    seen = wait_until(
        lambda: (r := row("w-gpu")) and r["running"] == 1 and r, what="a heartbeat with the job"
    )
    assert seen["host"] == socket.gethostname()
    assert seen["pid"] == os.getpid()
    assert seen["tags"] == ["has=gpu"]  # its own tags, not the automatic ones
    assert seen["queues"] == ["default", "gpu"]
    assert (seen["concurrency"], seen["jobs"]) == (3, [job.id])
    beat = datetime.fromisoformat(seen["last_heartbeat"])
    assert beat.tzinfo == timezone.utc
    assert 0 <= seen["age_seconds"] < 60
    other = row("w-plain")
    assert other is not None
    assert (other["queues"], other["tags"], other["running"], other["jobs"]) == (["default"], [], 0, [])

    table = workers().splitlines()
    assert table[0].split() == [
        "ID",
        "HOST",
        "PID",
        "TAGS",
        "QUEUES",
        "RUNNING",
        "CONCURRENCY",
        "AGE_SECONDS",
    ]
    assert sorted(line.split()[0] for line in table[1:]) == ["w-gpu", "w-plain"]

    plain.stop()
    assert [r["id"] for r in workers("--json")] == ["w-gpu"]
    assert not conn.redis.exists(conn.keys.worker("w-plain"))
    conn.redis.rpush("reg:gate", "go")
    assert job.wait(timeout=15) == job.id
    gpu.stop()
    assert workers("--json") == []
    assert conn.redis.zcard(conn.keys.workers) == 0


def test_a_worker_whose_heartbeats_stopped_is_not_listed(
    conn: Connection, workers: Callable[..., Any]
) -> None:
    """A killed worker leaves its registry score behind, but its description expires: not listed."""
    secs, micros = conn.redis.time()
    now_ms = secs * 1000 + micros // 1000
    conn.redis.zadd(conn.keys.workers, {"w-killed": now_ms})
    conn.redis.hset(conn.keys.worker("w-alive"), mapping={"host": "h", "pid": 1, "tags": "[]"})
    conn.redis.zadd(conn.keys.workers, {"w-alive": now_ms})
    assert [r["id"] for r in workers("--json")] == ["w-alive"]


def test_the_description_expires_without_heartbeats(
    conn: Connection, worker_thread: Callable[..., Any], wait_until: Any
) -> None:
    worker_thread(worker_id="w-ttl", heartbeat_seconds=0.5)
    key = conn.keys.worker("w-ttl")
    wait_until(lambda: conn.redis.exists(key), what="the first heartbeat")
    assert 0 < conn.redis.pttl(key) <= 5_000  # ten heartbeats: a dead worker's entry goes by itself


def test_workers_and_the_reaper_agree_on_who_is_alive(conn: Connection, workers: Callable[..., Any]) -> None:
    """One liveness rule: a described worker whose heartbeat is older than dead_after is not listed."""
    secs, micros = conn.redis.time()
    now_ms = secs * 1000 + micros // 1000
    for wid, age_ms in (("w-fresh", 1_000), ("w-stale", 6_000)):
        conn.redis.hset(conn.keys.worker(wid), mapping={"host": "h", "pid": 1, "tags": "[]"})
        conn.redis.zadd(conn.keys.workers, {wid: now_ms - age_ms})
    assert [r["id"] for r in workers("--json")] == ["w-fresh"]
    assert [r["id"] for r in workers("--json", "--dead-after", "10")] == ["w-fresh", "w-stale"]
