"""Worker metrics counted under a real workload, served over HTTP, and checked by promtool."""

from __future__ import annotations

import signal
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
from obs_helpers import run, scrape, value

from rqueues import Connection, Job, JobFailed, Queue, Worker
from rqueues.observe.metrics import WorkerMetrics, entry_seconds, task_label
from rqueues.observe.stats import BUCKETS, LE, QueueStats
from rqueues.quickstart.embedded import free_port
from rqueues.worker.execution import Claimed


def test_counts_equal_the_jobs_run(conn: Connection, start_worker: Callable[..., Worker]) -> None:
    q = Queue("obs", conn)
    q.declare()
    jobs = q.enqueue_many([("tasks:add", (i, 1), {}) for i in range(30)])
    failing = q.enqueue_many([("tasks:fail", (), {}) for _ in range(5)])
    metrics = WorkerMetrics()
    worker = start_worker(concurrency=4, observer=metrics, heartbeat_seconds=0.2)
    metrics.bind(worker)
    port = free_port()
    metrics.serve(port, "127.0.0.1")
    run_workload(jobs + failing)
    text = scrape(port)

    assert value(text, "rqueues_jobs_started_total", queue="obs") == 35
    assert value(text, "rqueues_jobs_completed_total", queue="obs", outcome="succeeded") == 30
    assert value(text, "rqueues_jobs_completed_total", queue="obs", outcome="failed") == 5
    assert value(text, "rqueues_jobs_completed_total", queue="obs", outcome="dead") == 0
    assert value(text, "rqueues_job_wait_seconds_count", queue="obs") == 35
    assert value(text, "rqueues_job_wait_seconds_bucket", queue="obs", task="tasks.add", le="+Inf") == 30
    assert value(text, "rqueues_job_wait_seconds_sum", queue="obs") > 0
    assert value(text, "rqueues_job_run_seconds_count", queue="obs", task="tasks.fail") == 5
    assert value(text, "rqueues_jobs_running", queue="obs") == 0
    assert value(text, "rqueues_worker_slots") == 4
    assert value(text, "rqueues_acquires_denied_total", queue="obs") == 0
    assert value(text, "rqueues_worker_last_heartbeat_timestamp_seconds") > 0
    assert value(text, "rqueues_worker_info", worker=worker.worker_id) == 1

    # The same counts reach the queue's stats hash in Redis (what top and the exporter read).
    metrics.flush()
    stats = QueueStats.from_hash(conn.redis.hgetall(conn.keys.queue("obs").stats))
    assert stats.started == 35
    assert dict(stats.finished) == {"succeeded": 30, "failed": 5}
    assert stats.wait_count == 35
    metrics.close()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2)


def test_acquires_denied_rises_when_the_cap_is_the_bottleneck(
    conn: Connection, start_worker: Callable[..., Worker]
) -> None:
    Queue("capped", conn).declare(concurrency=1)
    Queue("open", conn).declare()
    capped = Queue("capped", conn).enqueue_many([("tasks:sleep", (0.05,), {}) for _ in range(6)])
    uncapped = Queue("open", conn).enqueue_many([("tasks:sleep", (0.05,), {}) for _ in range(6)])
    metrics = WorkerMetrics()
    worker = start_worker(concurrency=4, observer=metrics)
    metrics.bind(worker)
    run_workload(capped + uncapped)
    denied = metrics.registry.get_sample_value("rqueues_acquires_denied_total", {"queue": "capped"})
    assert denied is not None and denied > 0
    assert metrics.registry.get_sample_value("rqueues_acquires_denied_total", {"queue": "open"}) == 0
    started = metrics.registry.get_sample_value(
        "rqueues_jobs_started_total", {"queue": "capped", "task": "tasks.sleep"}
    )
    assert started == 6


def test_worker_command_serves_metrics(
    conn: Connection, worker_process: Callable[..., Any], wait_until: Callable[..., Any], promtool: str
) -> None:
    """`rqueues worker --metrics-port` in a real process; promtool accepts its exposition."""
    q = Queue("cli", conn)
    q.declare(concurrency=2)
    port = free_port()
    proc = worker_process("--metrics-port", str(port), "--metrics-addr", "127.0.0.1", "--no-reaper")
    jobs = q.enqueue_many([("tasks:add", (i, i), {}) for i in range(10)])
    assert [j.wait(timeout=30) for j in jobs] == [2 * i for i in range(10)]

    def completed() -> str | None:
        text = scrape(port)
        return text if value(text, "rqueues_jobs_completed_total", outcome="succeeded") == 10 else None

    text = wait_until(completed, what="10 completions in the worker's /metrics")
    assert value(text, "rqueues_worker_slots") == 8
    checked = run([promtool, "check", "metrics"], stdin=text)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # The counts reach Redis on the heartbeat, and the last ones at a graceful stop.
    proc.signal(signal.SIGTERM)
    assert proc.wait(30) == 0, proc.output()
    stats = QueueStats.from_hash(conn.redis.hgetall(conn.keys.queue("cli").stats))
    assert stats.finished.get("succeeded") == 10


def test_task_label_is_the_dotted_path() -> None:
    assert task_label("pkg.mod:fn") == "pkg.mod.fn"
    assert task_label("pkg.mod:Cls.method") == "pkg.mod.Cls.method"


def test_wait_starts_at_the_stream_entry() -> None:
    job = Claimed("q", "1700000000123-0", "id", "m:f", b"", 1, {}, 60, enqueued_at=1.0)
    assert entry_seconds(job) == pytest.approx(1700000000.123)
    odd = Claimed("q", "not-an-id", "id", "m:f", b"", 1, {}, 60, enqueued_at=5.0)
    assert entry_seconds(odd) == 5.0


def test_task_labels_are_capped() -> None:
    metrics = WorkerMetrics(max_tasks=2)
    jobs = [Claimed("q", "1-0", f"id{i}", f"m:f{i}", b"", 1, {}, 60) for i in range(4)]
    metrics.claimed("q", jobs)
    r = metrics.registry
    assert r.get_sample_value("rqueues_jobs_started_total", {"queue": "q", "task": "m.f0"}) == 1
    assert r.get_sample_value("rqueues_jobs_started_total", {"queue": "q", "task": "m.f1"}) == 1
    assert r.get_sample_value("rqueues_jobs_started_total", {"queue": "q", "task": "other"}) == 2
    # A first failure is visible to rate(): its series existed at 0 before.
    assert (
        r.get_sample_value(
            "rqueues_jobs_completed_total", {"queue": "q", "task": "m.f0", "outcome": "failed"}
        )
        == 0
    )


def test_buckets_span_milliseconds_to_hours() -> None:
    assert list(BUCKETS) == sorted(BUCKETS) and BUCKETS[0] <= 0.001 and BUCKETS[-1] >= 3 * 3600
    assert len(LE) == len(BUCKETS) + 1 and LE[-1] == "+Inf"


def test_registry_is_private() -> None:
    """Two workers in one process do not share series, and nothing goes to the global registry."""
    from prometheus_client import REGISTRY

    a, b = WorkerMetrics(), WorkerMetrics()
    a.denied("q")
    assert a.registry.get_sample_value("rqueues_acquires_denied_total", {"queue": "q"}) == 1
    assert b.registry.get_sample_value("rqueues_acquires_denied_total", {"queue": "q"}) is None
    assert REGISTRY.get_sample_value("rqueues_acquires_denied_total", {"queue": "q"}) is None


def run_workload(jobs: list[Job]) -> None:
    """Wait for every job to finish, whatever its outcome."""
    for job in jobs:
        try:
            job.wait(timeout=30)
        except JobFailed:
            pass
