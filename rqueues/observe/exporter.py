"""`rqueues exporter`: the cluster view for Prometheus, read from Redis on each scrape.

One exporter serves the whole cluster (run one, or two behind a Service: they
hold no state). Each scrape costs three pipelined round trips whatever the
number of jobs (snapshot.py). When Redis does not answer, the scrape still
succeeds with ``rqueues_exporter_redis_up 0`` and no other rqueues series, so
alerts on the other series go quiet instead of firing on stale values.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator

import redis
from prometheus_client import CollectorRegistry, Info
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from ..backend.store import Store
from ..defaults import EXECUTORS, VERSION
from ..errors import RqueuesError
from ..liveness import DEAD_AFTER
from .metrics import serve, stop
from .snapshot import QueueView, Snapshot, read_snapshot
from .stats import OUTCOMES

log = logging.getLogger("rqueues.exporter")

DEFAULT_PORT = 9808

# name, help, attribute of QueueView
QUEUE_GAUGES = (
    (
        "rqueues_queue_waiting",
        "Jobs waiting: entries not yet delivered (the consumer group's lag).",
        "waiting",
    ),
    ("rqueues_queue_pending", "Jobs delivered to a worker and not yet acknowledged.", "pending"),
    ("rqueues_queue_running", "Jobs pending on live workers.", "running"),
    ("rqueues_queue_stalled", "Jobs pending on dead workers, waiting for the reaper.", "stalled"),
    ("rqueues_queue_in_use", "Permits of the concurrency limit held (unexpired leases).", "in_use"),
    ("rqueues_queue_expired_leases", "Leases past their expiry not yet pruned.", "expired_leases"),
    ("rqueues_queue_concurrency_limit", "Declared concurrency limit (0 = unlimited).", "concurrency"),
    ("rqueues_queue_scheduled", "Jobs scheduled for later (delays and retries).", "scheduled"),
    ("rqueues_queue_scheduled_due", "Scheduled jobs whose due time has passed.", "scheduled_due"),
    ("rqueues_queue_dead", "Jobs in the dead-letter stream.", "dead"),
    ("rqueues_queue_consumers", "Live workers consuming the queue.", "consumers"),
)


class ClusterCollector(Collector):
    """Reads the cluster from Redis when Prometheus scrapes."""

    def __init__(self, conn: Store, dead_after: float = DEAD_AFTER) -> None:
        self.conn = conn
        self.dead_after = dead_after

    def describe(self) -> list[Metric]:
        return []  # the series depend on what Redis holds: never collect at registration

    def collect(self) -> Iterator[Metric]:
        began = time.perf_counter()
        try:
            snap: Snapshot | None = read_snapshot(self.conn, dead_after=self.dead_after)
        except (redis.RedisError, RqueuesError, OSError) as exc:
            log.warning("scrape: cannot read Redis: %s", exc)
            snap = None
        if snap is not None:
            yield from queue_metrics(snap)
            yield from worker_metrics(snap)
            yield from reaper_metrics(snap)
            yield _gauge(
                "rqueues_redis_out_of_memory",
                "1 if Redis refuses writes for lack of memory (maxmemory reached under noeviction): "
                "nothing new is enqueued or claimed until memory frees.",
                1 if snap.refusing_writes else 0,
            )
        yield _gauge("rqueues_exporter_redis_up", "1 if Redis answered this scrape.", 1 if snap else 0)
        yield _gauge(
            "rqueues_exporter_scrape_duration_seconds",
            "Time this scrape spent reading Redis.",
            time.perf_counter() - began,
        )


def queue_metrics(snap: Snapshot) -> Iterator[Metric]:
    yield _gauge("rqueues_queues", "Declared queues.", len(snap.queues))
    for name, doc, attr in QUEUE_GAUGES:
        g = GaugeMetricFamily(name, doc, labels=["queue"])
        for q in snap.queues:
            g.add_metric([q.name], float(getattr(q, attr)))
        yield g
    yield _per_queue(
        "rqueues_queue_lag_known",
        "1 if Redis reports a lag the stream can hold (0: none, as when entries were deleted ahead "
        "of the group, or more than the stream holds, as after a Redis 7.0 restart: lagCount is off).",
        snap.queues,
        lambda q: 1.0 if q.lag_known else 0.0,
    )
    yield _per_queue(
        "rqueues_queue_oldest_waiting_age_seconds",
        "Age of the oldest waiting job (0 when none waits).",
        snap.queues,
        lambda q: q.oldest_waiting_seconds or 0.0,
    )
    yield _per_queue(
        "rqueues_queue_rate_limit_per_second",
        "Declared rate limit; only queues that declare one.",
        [q for q in snap.queues if q.rate_limit is not None],
        lambda q: q.rate_limit or 0.0,
    )
    yield _per_queue(
        "rqueues_queue_paused",
        "1 if the queue is paused (`rqueues pause`): enqueues are accepted, nothing starts.",
        snap.queues,
        lambda q: 1.0 if q.paused else 0.0,
    )
    yield _per_queue(
        "rqueues_queue_rate_bound",
        "1 if the queue has a backlog and every permit of its rate limit's current window is used.",
        snap.queues,
        lambda q: 1.0 if q.waiting and q.rate_saturated else 0.0,
    )
    yield from queue_counters(snap)


def queue_counters(snap: Snapshot) -> Iterator[Metric]:
    """What the workers counted into each queue's stats hash, summed over all of them."""
    started = CounterMetricFamily("rqueues_queue_started", "Jobs started, all workers.", labels=["queue"])
    finished = CounterMetricFamily(
        "rqueues_queue_finished", "Jobs finished, all workers, by outcome.", labels=["queue", "outcome"]
    )
    wait = HistogramMetricFamily(
        "rqueues_queue_wait_seconds", "Time from stream entry to start, all workers.", labels=["queue"]
    )
    timeouts = CounterMetricFamily(
        "rqueues_queue_timeouts",
        "Jobs that ran past their timeout, all workers, by executor.",
        labels=["queue", "executor"],
    )
    memory_kills = CounterMetricFamily(
        "rqueues_queue_memory_kills",
        "Jobs killed past the queue's max_memory_per_child, all workers.",
        labels=["queue"],
    )
    for q in snap.queues:
        started.add_metric([q.name], q.stats.started)
        outcomes = {**dict.fromkeys(OUTCOMES, 0), **q.stats.finished}  # 0 until the first of each
        for outcome, n in sorted(outcomes.items()):
            finished.add_metric([q.name, outcome], n)
        wait.add_metric([q.name], q.stats.cumulative(), q.stats.wait_sum)
        for executor, n in sorted({**dict.fromkeys(EXECUTORS, 0), **q.stats.timeouts}.items()):
            timeouts.add_metric([q.name, executor], n)
        memory_kills.add_metric([q.name], q.stats.memory_kills)
    yield started
    yield finished
    yield wait
    yield timeouts
    yield memory_kills


def worker_metrics(snap: Snapshot) -> Iterator[Metric]:
    yield _gauge("rqueues_workers_live", "Workers whose heartbeat is recent.", len(snap.workers))
    yield _gauge(
        "rqueues_workers_dead", "Workers still registered whose heartbeat stopped.", snap.dead_workers
    )
    info = GaugeMetricFamily(
        "rqueues_cluster_worker_info",
        "A live worker and its tags (value 1).",
        labels=["worker", "host", "tags"],
    )
    slots = GaugeMetricFamily(
        "rqueues_cluster_worker_slots", "Job slots of a live worker.", labels=["worker"]
    )
    running = GaugeMetricFamily(
        "rqueues_cluster_worker_running", "Jobs a live worker runs.", labels=["worker"]
    )
    age = GaugeMetricFamily(
        "rqueues_cluster_worker_heartbeat_age_seconds", "Age of a live worker's heartbeat.", labels=["worker"]
    )
    for w in snap.workers:
        info.add_metric([w.id, w.host, ",".join(w.tags)], 1)
        slots.add_metric([w.id], w.concurrency)
        running.add_metric([w.id], w.running)
        age.add_metric([w.id], w.heartbeat_age)
    yield from (info, slots, running, age)


def reaper_metrics(snap: Snapshot) -> Iterator[Metric]:
    rp = snap.reaper
    yield _gauge(
        "rqueues_reaper_status_present",
        "1 if a reaper has written its status hash (0: no reaper has ever run).",
        0 if rp is None else 1,
    )
    if rp is None:
        return
    if rp.last_run is not None and rp.last_run_age is not None:
        yield _gauge("rqueues_reaper_last_run_timestamp_seconds", "When a reaper pass last ran.", rp.last_run)
        yield _gauge(
            "rqueues_reaper_last_run_age_seconds", "Seconds since a reaper pass ran.", rp.last_run_age
        )
    if rp.reclaimed is not None:
        c = CounterMetricFamily("rqueues_reaper_reclaimed", "Jobs the reaper gave back to their queues.")
        c.add_metric([], rp.reclaimed)
        yield c
    if rp.dead_lettered is not None:
        c = CounterMetricFamily(
            "rqueues_reaper_dead_lettered", "Jobs the reaper dead-lettered after too many reclaims."
        )
        c.add_metric([], rp.dead_lettered)
        yield c


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


def _per_queue(
    name: str, doc: str, queues: list[QueueView], value: Callable[[QueueView], float]
) -> GaugeMetricFamily:
    g = GaugeMetricFamily(name, doc, labels=["queue"])
    for q in queues:
        g.add_metric([q.name], float(value(q)))
    return g


def exporter_registry(conn: Store, dead_after: float = DEAD_AFTER) -> CollectorRegistry:
    """A fresh registry holding the cluster collector (and nothing global)."""
    registry = CollectorRegistry()
    Info("rqueues_build", "rqueues version.", registry=registry).info({"version": VERSION})
    registry.register(ClusterCollector(conn, dead_after))
    return registry


def run_exporter(
    conn: Store, port: int = DEFAULT_PORT, addr: str = "0.0.0.0", dead_after: float = DEAD_AFTER
) -> None:
    """Serve the cluster's metrics until SIGTERM or SIGINT."""
    server = serve(exporter_registry(conn, dead_after), port, addr)
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    log.info("exporter serving http://%s:%d/metrics", addr, port)
    try:
        done.wait()
    finally:
        stop(server)
