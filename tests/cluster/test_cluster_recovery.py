"""Crash recovery on the cluster: the reaper gives back a killed worker's jobs, retries reschedule."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import redis

from rqueues import Connection, JobFailed, Queue
from rqueues.retry import RetryPolicy

TESTS = Path(__file__).resolve().parent.parent


def worker_process(url: str, worker_id: str, log_path: Path, *args: str) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(TESTS), env.get("PYTHONPATH")) if p)
    cmd = [sys.executable, "-m", "rqueues.cli", "worker", "--redis-url", url, "--worker-id", worker_id]
    with open(log_path, "wb") as log:
        return subprocess.Popen(
            [*cmd, "--import", "tasks", *args], stdout=log, stderr=subprocess.STDOUT, env=env, cwd=TESTS
        )


def test_reaper_gives_back_a_killed_workers_jobs_on_every_node(
    conn: Connection,
    cluster_url: str,
    redis_url: str,
    spread_queues: Any,
    start_worker: Any,
    wait_until: Any,
    tmp_path: Path,
) -> None:
    names = spread_queues(3)
    log_key, gate = f"log:{os.urandom(4).hex()}", f"gate:{os.urandom(4).hex()}"
    jobs = []
    for name in names:
        Queue(name, conn).declare(concurrency=1)
        jobs.append(Queue(name, conn).enqueue("tasks:gated", redis_url, log_key, gate))
    log = redis.Redis.from_url(redis_url)

    doomed = worker_process(cluster_url, "doomed", tmp_path / "doomed.log", "--concurrency", "3")
    try:
        wait_until(lambda: log.llen(log_key) == 3, timeout=30, what="the doomed worker to start 3 jobs")
    finally:
        doomed.send_signal(signal.SIGKILL)
        doomed.wait(10)

    # A live worker's reaper sees the dead heartbeat and gives the jobs back to their queues.
    start_worker(concurrency=3, heartbeat_seconds=0.2, dead_after=1.0)
    log.rpush(gate, *["open"] * 3)
    for job in jobs:
        job.wait(timeout=30)
        rec = job.record()
        assert (rec.state, rec.attempts, rec.reclaims) == ("succeeded", 2, 1)
        assert rec.errors[0]["type"] == "WorkerLost" and "doomed" in rec.errors[0]["message"]
    assert [line.split()[0] for line in log.lrange(log_key, 0, -1)].count(b"start") == 6
    log.close()
    assert conn.redis.zscore(conn.keys.workers, "doomed") is None  # dropped from the registry
    for name in names:
        assert Queue(name, conn).info().running == 0


def test_retries_reschedule_then_fail_for_good(conn: Connection, start_worker: Any) -> None:
    q = Queue("flaky", conn)
    q.declare(retry=RetryPolicy(retries=2, backoff=0.05, backoff_max=0.1))
    job = q.enqueue("tasks:fail", "again")
    start_worker()
    with pytest.raises(JobFailed, match="again"):
        job.wait(timeout=30)
    rec = job.record()
    assert (rec.state, rec.attempts) == ("failed", 3)
    assert [e["attempt"] for e in rec.errors] == [1, 2, 3]
    assert conn.redis.zcard(q.keys.scheduled) == 0
