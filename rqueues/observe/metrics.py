"""Worker metrics: an Observer that counts what the worker does, served on /metrics.

The registry is created with the WorkerMetrics object (at worker start, by
`rqueues worker`), never at import, and nothing is written to the global
prometheus_client registry.

Every hook runs in the worker's own process: the dispatcher claims, and the
executor reports each outcome back to the worker that claimed it before the
worker calls ``finished``. A process executor (planned) that runs jobs in child processes
would keep that shape (children send outcomes to the parent), so its jobs are
counted once, by the parent, and a dead child leaves no series behind. Metrics
that job code itself defines in children would need prometheus_client's
multiprocess mode: register a MultiProcessCollector on ``registry`` and call
``mark_process_dead`` when a child exits; the worker's own series stay here.

Besides the Prometheus series, the counts of started and finished jobs and the
wait-time buckets are added to each queue's stats hash in Redis on every
heartbeat (stats.py), which is where `rqueues top` and the exporter read them.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIServer

import redis
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from ..defaults import EXECUTORS, VERSION
from ..errors import ConfigurationError
from ..worker.execution import Claimed, Outcome
from ..worker.executors.process import REPLACED
from ..worker.observer import Observer
from .stats import BUCKETS, OUTCOMES, StatsBuffer

if TYPE_CHECKING:
    from ..worker.lifecycle import Worker

log = logging.getLogger("rqueues.metrics")

REDIS_CALLS = ("dispatch", "ack", "heartbeat", "stats")
#: The error names (as Outcome.exception_names holds them) of a timed-out and an OOM-killed job.
TIMEOUT = "rqueues.errors.JobTimeout"
OUT_OF_MEMORY = "rqueues.errors.JobOutOfMemory"
#: Distinct task labels kept per worker; more become "other" (task names come from Redis).
MAX_TASKS = 500


def task_label(function: str) -> str:
    """The function's dotted path: 'pkg.mod:fn' becomes 'pkg.mod.fn'."""
    return function.replace(":", ".")


def entry_seconds(job: Claimed) -> float | None:
    """When the job's stream entry was added (epoch seconds), from its id; else its enqueue time."""
    ms, sep, _ = job.entry.partition("-")
    if sep and ms.isdigit():
        return int(ms) / 1000
    return job.enqueued_at


class WorkerMetrics(Observer):
    """Prometheus series of one worker, plus the cluster-wide counters in Redis.

    Use with ``Worker(observer=metrics)``, then ``metrics.bind(worker)``;
    ``serve(port)`` starts /metrics and ``close()`` writes the last counts.
    """

    def __init__(self, registry: CollectorRegistry | None = None, max_tasks: int = MAX_TASKS) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.max_tasks = max_tasks
        Info("rqueues_build", "rqueues version.", registry=r).info({"version": VERSION})
        self.worker_info = Gauge(
            "rqueues_worker_info",
            "This worker: id, host and own tags (value 1).",
            ["worker", "host", "tags"],
            registry=r,
        )
        self.started = Counter(
            "rqueues_jobs_started", "Jobs this worker started.", ["queue", "task"], registry=r
        )
        self.completed = Counter(
            "rqueues_jobs_completed",
            "Jobs this worker finished, by outcome.",
            ["queue", "task", "outcome"],
            registry=r,
        )
        self.run_time = Histogram(
            "rqueues_job_run_seconds",
            "Time jobs ran, from claim to outcome.",
            ["queue", "task"],
            buckets=BUCKETS,
            registry=r,
        )
        self.wait_time = Histogram(
            "rqueues_job_wait_seconds",
            "Time jobs waited, from their stream entry to their start.",
            ["queue", "task"],
            buckets=BUCKETS,
            registry=r,
        )
        self.running = Gauge("rqueues_jobs_running", "Jobs running on this worker.", ["queue"], registry=r)
        self.slots = Gauge("rqueues_worker_slots", "Job slots of this worker.", registry=r)
        self.acquires_denied = Counter(
            "rqueues_acquires_denied",
            "Claims refused because the queue's concurrency limit was reached.",
            ["queue"],
            registry=r,
        )
        self.last_heartbeat = Gauge(
            "rqueues_worker_last_heartbeat_timestamp_seconds", "When this worker last heartbeat.", registry=r
        )
        self.redis_errors = Counter(
            "rqueues_redis_errors", "Failed Redis calls, by where they happened.", ["where"], registry=r
        )
        for where in REDIS_CALLS:
            self.redis_errors.labels(where)
        self._executor_metrics(r)
        ProcessCollector(registry=r)
        self.stats = StatsBuffer()
        self._worker: Worker | None = None
        self._tasks: set[tuple[str, str]] = set()
        self._cache: dict[tuple[str, str], _Series] = {}
        self._queues: set[str] = set()
        self._lock = threading.Lock()
        self._server: WSGIServer | None = None

    def _executor_metrics(self, r: CollectorRegistry) -> None:
        """Per executor: busy slots, child restarts, timeouts, memory kills."""
        self.child_restarts = Counter(
            "rqueues_worker_child_restarts",
            "Child processes of the process executor replaced, by reason.",
            ["reason"],
            registry=r,
        )
        for reason in REPLACED:
            self.child_restarts.labels(reason)
        self.timeouts = Counter(
            "rqueues_job_timeouts",
            "Jobs that ran past their timeout: thread: returned late; process: killed; asyncio: cancelled.",
            ["queue", "executor"],
            registry=r,
        )
        self.memory_kills = Counter(
            "rqueues_job_memory_kills",
            "Jobs whose child process passed the queue's max_memory_per_child and was killed.",
            ["queue"],
            registry=r,
        )
        r.register(BusySlots(lambda: self._worker))

    def bind(self, worker: Worker) -> None:
        """Attach to the worker whose observer this is: slots, identity, Redis for the stats."""
        self._worker = worker
        self.slots.set(worker.concurrency)
        tags = ",".join(sorted(worker.own_tags))
        self.worker_info.labels(worker.worker_id, socket.gethostname(), tags).set(1)
        self._see_queues(worker.queues)

    # -- hooks ----------------------------------------------------------------

    def claimed(self, queue: str, jobs: Sequence[Claimed]) -> None:
        if not jobs:
            return
        now = time.time()
        waits = []
        started: dict[str, int] = {}  # function -> jobs: one increment per function of a claim
        for job in jobs:
            entered = entry_seconds(job)
            wait = max(0.0, now - entered) if entered is not None else 0.0
            self._series(queue, job.function).wait.observe(wait)
            started[job.function] = started.get(job.function, 0) + 1
            waits.append(wait)
        for function, n in started.items():
            self._series(queue, function).started.inc(n)
        self.stats.started(queue, waits)
        self.running.labels(queue).inc(len(jobs))

    def finished(self, outcome: Outcome, seconds: float) -> None:
        job = outcome.claimed
        state = outcome.state or "cancelled"
        series = self._series(job.queue, job.function)
        completed = series.completed.get(state)
        if completed is None:
            completed = self.completed.labels(job.queue, self._task(job.queue, job.function), state)
        completed.inc()
        series.run.observe(seconds)
        series.running.dec()
        self.stats.finished(job.queue, state)
        names = outcome.exception_names
        if names:  # failures only: the hot path of a succeeding job stays as it was
            executor = job.executor or "thread"
            if TIMEOUT in names:
                self.timeouts.labels(job.queue, executor).inc()
                self.stats.timed_out(job.queue, executor)
            elif OUT_OF_MEMORY in names:
                self.memory_kills.labels(job.queue).inc()
                self.stats.memory_killed(job.queue)

    def denied(self, queue: str) -> None:
        self.acquires_denied.labels(queue).inc()

    def redis_error(self, where: str) -> None:
        self.redis_errors.labels(where).inc()

    def child_replaced(self, reason: str) -> None:
        self.child_restarts.labels(reason).inc()

    def heartbeat(self) -> None:
        """Runs on the heartbeat thread after each beat: off the job path, so it may talk to Redis."""
        self.last_heartbeat.set(time.time())
        if self._worker is not None:
            self._see_queues(self._worker.queues)
            self.flush()

    # -- helpers --------------------------------------------------------------

    def flush(self) -> None:
        """Write the buffered counts to the queues' stats hashes."""
        if self._worker is None:
            return
        try:
            self.stats.flush(self._worker.conn)
        except redis.RedisError as exc:
            self.redis_error("stats")
            log.warning("could not write job counts to Redis: %s", exc)

    def serve(self, port: int, addr: str = "0.0.0.0") -> WSGIServer:
        """Serve /metrics on a daemon thread; close() stops it."""
        self._server = serve(self.registry, port, addr)
        return self._server

    def close(self) -> None:
        """Write the last counts and stop serving."""
        self.flush()
        if self._server is not None:
            stop(self._server)
            self._server = None

    def _series(self, queue: str, function: str) -> _Series:
        """The labelled children of a (queue, function): labels() costs too much per job."""
        found = self._cache.get((queue, function))
        if found is not None:
            return found
        task = self._task(queue, function)
        series = _Series(
            started=self.started.labels(queue, task),
            wait=self.wait_time.labels(queue, task),
            run=self.run_time.labels(queue, task),
            running=self.running.labels(queue),
            completed={o: self.completed.labels(queue, task, o) for o in OUTCOMES},
        )
        if len(self._cache) < 4 * self.max_tasks:  # names come from Redis: bound the cache
            self._cache[(queue, function)] = series
        return series

    def _task(self, queue: str, function: str) -> str:
        task = task_label(function)
        key = (queue, task)
        if key in self._tasks:
            return task
        with self._lock:
            if key not in self._tasks:
                if len(self._tasks) >= self.max_tasks:
                    return "other"
                self._tasks.add(key)
                # Series at 0 from the first sight of a task, so that rate() sees the first failure.
                self.started.labels(queue, task)
                for outcome in OUTCOMES:
                    self.completed.labels(queue, task, outcome)
        return task

    def _see_queues(self, queues: Sequence[str]) -> None:
        """Create the per-queue series at 0, so that rate() sees their first increase."""
        for queue in queues:
            if queue not in self._queues:
                self._queues.add(queue)
                self.acquires_denied.labels(queue)
                self.running.labels(queue)
                self.memory_kills.labels(queue)
                for executor in EXECUTORS:
                    self.timeouts.labels(queue, executor)


class BusySlots(Collector):
    """rqueues_worker_busy_slots{executor}: the worker's running jobs by the executor each was
    routed to, counted at scrape time from the jobs it holds (nothing on the job path)."""

    def __init__(self, worker: Callable[[], Worker | None]) -> None:
        self._worker = worker

    def collect(self) -> Iterator[Metric]:
        busy = dict.fromkeys(EXECUTORS, 0)
        worker = self._worker()
        if worker is not None:
            for jobs in worker.held.snapshot().values():
                for job in jobs:
                    if job.executor and not job.done:  # routed, still running
                        busy[job.executor] = busy.get(job.executor, 0) + 1
        family = GaugeMetricFamily(
            "rqueues_worker_busy_slots", "Slots running a job, by the job's executor.", labels=["executor"]
        )
        for executor, n in busy.items():
            family.add_metric([executor], n)
        yield family


@dataclass(frozen=True)
class _Series:
    started: Any
    wait: Any
    run: Any
    running: Any
    completed: dict[str, Any]


def run_instrumented(worker: Worker, metrics: WorkerMetrics, port: int | None, addr: str = "0.0.0.0") -> None:
    """Run ``worker`` (whose observer is ``metrics``), serving /metrics on ``port`` if given."""
    metrics.bind(worker)
    if port is not None:
        metrics.serve(port, addr)
        log.info("metrics on http://%s:%d/metrics", addr, port)
    try:
        worker.run()
    finally:
        metrics.close()


def serve(registry: CollectorRegistry, port: int, addr: str = "0.0.0.0") -> WSGIServer:
    """Serve ``registry`` on http://addr:port/metrics from a daemon thread."""
    try:
        server, _ = start_http_server(port, addr, registry=registry)
    except OSError as exc:  # most often: the port is taken
        raise ConfigurationError(f"cannot serve metrics on {addr}:{port}: {exc.strerror or exc}") from exc
    return server


def stop(server: WSGIServer) -> None:
    server.shutdown()
    server.server_close()
