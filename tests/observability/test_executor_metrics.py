"""Metrics per executor against a real Redis and real child processes: busy slots, child
restarts by reason, timeouts and memory kills, in the worker's /metrics and the exporter's."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import tasks
from obs_helpers import run, scrape, value

from rqueues import Connection, JobFailed, Queue, RetryPolicy, Worker
from rqueues.observe.exporter import exporter_registry
from rqueues.observe.metrics import WorkerMetrics, serve, stop
from rqueues.observe.stats import QueueStats
from rqueues.quickstart.embedded import free_port

NO_RETRY = RetryPolicy(retries=0)


@pytest.fixture
def metered(quick_worker: Callable[..., Worker]) -> Iterator[tuple[Worker, WorkerMetrics, int]]:
    """A worker with two slots whose metrics are served on a free port."""
    metrics = WorkerMetrics()
    worker = quick_worker(concurrency=2, observer=metrics, heartbeat_seconds=0.2)
    metrics.bind(worker)
    port = free_port()
    metrics.serve(port, "127.0.0.1")
    yield worker, metrics, port
    metrics.close()


def failed_with(job: Any, exc_type: str) -> None:
    with pytest.raises(JobFailed) as failed:
        job.wait(timeout=60)
    assert failed.value.exc_type == exc_type


def test_process_children_restarts_timeouts_and_memory_kills_are_counted(
    conn: Connection, metered: tuple[Worker, WorkerMetrics, int], promtool: str
) -> None:
    _, metrics, port = metered
    recycled = Queue("recycled", conn)
    recycled.declare(executor="process", max_jobs_per_child=1)
    slow = Queue("slow", conn)
    slow.declare(executor="process", timeout=0.5, retry=NO_RETRY)
    hogs = Queue("hogs", conn)
    hogs.declare(executor="process", max_memory_per_child=100, retry=NO_RETRY)

    pids = [recycled.enqueue(tasks.whoami).wait(timeout=30)["pid"] for _ in range(2)]
    assert pids[0] != pids[1]
    failed_with(slow.enqueue(tasks.sleep, 60), "rqueues.errors.JobTimeout")
    failed_with(hogs.enqueue(tasks.hog, 300), "rqueues.errors.JobOutOfMemory")

    text = scrape(port)
    restarts = "rqueues_worker_child_restarts_total"
    assert value(text, restarts, reason="recycled") == 2  # one job per child: each is replaced
    assert value(text, restarts, reason="killed_timeout") == 1
    assert value(text, restarts, reason="killed_memory") == 1
    assert value(text, restarts, reason="died") == 0
    assert value(text, restarts, reason="stopped") == 0
    assert value(text, "rqueues_job_timeouts_total", queue="slow", executor="process") == 1
    assert value(text, "rqueues_job_timeouts_total", queue="slow", executor="thread") == 0
    assert value(text, "rqueues_job_timeouts_total", queue="hogs") == 0
    assert value(text, "rqueues_job_memory_kills_total", queue="hogs") == 1
    assert value(text, "rqueues_job_memory_kills_total", queue="slow") == 0
    assert value(text, "rqueues_worker_busy_slots", executor="process") == 0
    checked = run([promtool, "check", "metrics"], stdin=text)
    assert checked.returncode == 0, checked.stdout + checked.stderr

    # Cluster-wide: the counts reach the queues' stats hashes, which the exporter serves.
    metrics.flush()
    stats = QueueStats.from_hash(conn.redis.hgetall(conn.keys.queue("slow").stats))
    assert dict(stats.timeouts) == {"process": 1}
    assert QueueStats.from_hash(conn.redis.hgetall(conn.keys.queue("hogs").stats)).memory_kills == 1
    eport = free_port()
    exporter = serve(exporter_registry(conn), eport, "127.0.0.1")
    try:
        etext = scrape(eport)
    finally:
        stop(exporter)
    assert value(etext, "rqueues_queue_timeouts_total", queue="slow", executor="process") == 1
    assert value(etext, "rqueues_queue_timeouts_total", queue="slow", executor="asyncio") == 0
    assert value(etext, "rqueues_queue_memory_kills_total", queue="hogs") == 1
    assert value(etext, "rqueues_queue_memory_kills_total", queue="recycled") == 0


def test_busy_slots_are_counted_by_executor(
    conn: Connection,
    redis_url: str,
    metered: tuple[Worker, WorkerMetrics, int],
    wait_until: Callable[..., Any],
) -> None:
    _, _, port = metered
    Queue("proc", conn).declare(executor="process")
    Queue("threads", conn).declare()
    jobs = [
        Queue(name, conn).enqueue(tasks.gated, redis_url, "busy:log", "busy:gate")
        for name in ("proc", "threads")
    ]
    wait_until(lambda: conn.redis.llen("busy:log") == 2, timeout=30, what="both gated jobs to start")
    text = scrape(port)
    assert value(text, "rqueues_worker_busy_slots", executor="process") == 1
    assert value(text, "rqueues_worker_busy_slots", executor="thread") == 1
    assert value(text, "rqueues_worker_busy_slots", executor="asyncio") == 0
    conn.redis.rpush("busy:gate", "go", "go")
    for job in jobs:
        job.wait(timeout=30)
    text = scrape(port)
    assert value(text, "rqueues_worker_busy_slots") == 0


def test_thread_and_asyncio_timeouts_are_counted_with_their_executor(
    conn: Connection, metered: tuple[Worker, WorkerMetrics, int]
) -> None:
    _, metrics, _ = metered
    threads = Queue("threads", conn)
    threads.declare(timeout=0.1, retry=NO_RETRY)
    loop = Queue("loop", conn)
    loop.declare(executor="asyncio", timeout=0.2, retry=NO_RETRY)
    failed_with(threads.enqueue(tasks.sleep, 0.3), "rqueues.errors.JobTimeout")  # overran, returned late
    failed_with(loop.enqueue(tasks.async_sleep, 60), "rqueues.errors.JobTimeout")  # cancelled
    r = metrics.registry
    assert r.get_sample_value("rqueues_job_timeouts_total", {"queue": "threads", "executor": "thread"}) == 1
    assert r.get_sample_value("rqueues_job_timeouts_total", {"queue": "loop", "executor": "asyncio"}) == 1
    assert r.get_sample_value("rqueues_job_timeouts_total", {"queue": "loop", "executor": "thread"}) == 0
    assert r.get_sample_value("rqueues_worker_child_restarts_total", {"reason": "recycled"}) == 0
