"""SIGTERM to a worker process with a running job: the job finishes and is stored, exit 0."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Callable
from typing import Any

import pytest
import tasks

from rqueues import Connection, Queue
from rqueues.backend.keys import GROUP


def test_sigterm_lets_the_running_job_finish_then_exits_cleanly(
    conn: Connection, redis_url: str, worker_process: Callable[..., Any], wait_until: Any
) -> None:
    q = Queue("default", conn)
    q.declare(concurrency=2)
    keys = conn.keys.queue("default")
    proc = worker_process("--concurrency", "2")
    job = q.enqueue(tasks.gated, redis_url, "term:log", "term:gate")
    wait_until(lambda: conn.redis.llen("term:log") == 1, what="the job to start")

    proc.signal(signal.SIGTERM)
    # The job is still blocked on its gate: the worker must wait for it, not exit.
    with pytest.raises(subprocess.TimeoutExpired):
        proc.wait(timeout=0.5)
    later = q.enqueue(tasks.noop)  # a stopping worker takes no new job
    conn.redis.rpush("term:gate", "go")
    assert proc.wait(timeout=20) == 0, proc.output()

    assert job.wait(timeout=5) == job.id
    rec = job.record()
    assert (rec.state, rec.worker, rec.attempts) == ("succeeded", proc.worker_id, 1)
    assert later.state == "queued"
    assert conn.redis.zcard(keys.leases) == 0
    assert conn.redis.xpending(keys.stream, GROUP)["pending"] == 0
    consumers = [c["name"].decode() for c in conn.redis.xinfo_consumers(keys.stream, GROUP)]
    assert proc.worker_id not in consumers
    assert conn.redis.zscore(conn.keys.workers, proc.worker_id) is None  # left the registry
    assert "stopping" in proc.output().lower()
