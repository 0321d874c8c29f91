"""The plumbing of the per-executor metrics, without Redis or children: the router names each
job's executor, the process executor reports replaced children through its callback, the
observers pass the report on, and WorkerMetrics counts timeouts, memory kills and busy slots."""

from __future__ import annotations

from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

from rqueues.config import QueueConfig
from rqueues.errors import ChildDied, JobOutOfMemory, JobTimeout
from rqueues.observe.metrics import WorkerMetrics
from rqueues.observe.stats import QueueStats, StatsBuffer
from rqueues.retry import exception_names
from rqueues.worker.execution import Claimed, Outcome, failure
from rqueues.worker.executors.process import REPLACED, ProcessExecutor
from rqueues.worker.executors.router import Router
from rqueues.worker.held import Held
from rqueues.worker.observer import Observer, Observers


def claimed(queue: str = "q", entry: str = "1-0", executor: str = "") -> Claimed:
    job = Claimed(queue, entry, f"id-{entry}", "m:f", b"", 1, {}, 60)
    job.executor = executor
    return job


def failed(job: Claimed, exc: BaseException) -> Outcome:
    return Outcome(job, "failed", failure(exc), exception_names=exception_names(exc))


class Recorder:
    def __init__(self) -> None:
        self.jobs: list[Claimed] = []

    def start(self) -> None: ...

    def submit(self, job: Claimed, config: QueueConfig | None = None) -> None:
        self.jobs.append(job)

    def abandon(self) -> None: ...

    def stop(self, timeout: float | None = None) -> None: ...


def test_the_router_names_the_executor_each_job_went_to() -> None:
    configs: Mapping[str, QueueConfig] = {
        "p": QueueConfig("p", executor="process"),
        "a": QueueConfig("a", executor="asyncio"),
    }
    executors = {"thread": Recorder(), "process": Recorder(), "asyncio": Recorder()}
    jobs = {name: claimed(name) for name in ("p", "a", "undeclared")}
    for job in jobs.values():
        Router(lambda: configs, executors).submit(job)
    assert {n: j.executor for n, j in jobs.items()} == {
        "p": "process",
        "a": "asyncio",
        "undeclared": "thread",
    }
    # An executor the router lacks falls back to threads, and the job is labelled as it ran.
    fallback = claimed("a", "2-0")
    Router(lambda: configs, {"thread": executors["thread"]}).submit(fallback)
    assert fallback.executor == "thread"
    assert executors["thread"].jobs == [jobs["undeclared"], fallback]


class FakeChild:
    pid, jobs = 4242, 3

    def close(self) -> None: ...


def noop(*args: Any) -> None: ...


def test_a_replaced_child_is_reported_with_its_reason() -> None:
    seen: list[str] = []
    executor = ProcessExecutor([], noop, noop, on_replaced=seen.append)
    for reason in REPLACED:
        executor._retire(FakeChild(), reason)  # type: ignore[arg-type]
    assert seen == list(REPLACED)
    assert executor.replaced == dict.fromkeys(REPLACED, 1)
    executor.abandon()  # a stopping worker's children are killed, not replaced
    executor._retire(FakeChild(), "died")  # type: ignore[arg-type]
    assert seen == list(REPLACED)


def test_an_observer_that_raises_costs_the_executor_nothing() -> None:
    def broken(reason: str) -> None:
        raise RuntimeError("observer bug")

    executor = ProcessExecutor([], noop, noop, on_replaced=broken)
    executor._retire(FakeChild(), "died")  # type: ignore[arg-type]
    assert executor.replaced == {"died": 1}


def test_observers_pass_a_replaced_child_on_to_each() -> None:
    class Counting(Observer):
        def __init__(self) -> None:
            self.reasons: list[str] = []

        def child_replaced(self, reason: str) -> None:
            self.reasons.append(reason)

    a, b = Counting(), Counting()
    Observers(a, Observer(), b).child_replaced("recycled")
    assert a.reasons == b.reasons == ["recycled"]


def test_worker_metrics_count_timeouts_and_memory_kills_by_queue_and_executor() -> None:
    metrics = WorkerMetrics()
    r = metrics.registry
    jobs = [claimed("q", f"{i}-0", executor) for i, executor in enumerate(["process", "asyncio", ""])]
    metrics.claimed("q", jobs)
    metrics.finished(failed(jobs[0], JobTimeout("killed")), 1.0)
    metrics.finished(failed(jobs[1], JobTimeout("cancelled")), 1.0)
    metrics.finished(failed(jobs[2], JobTimeout("late")), 1.0)  # never routed: counted as thread
    for executor in ("process", "asyncio", "thread"):
        assert r.get_sample_value("rqueues_job_timeouts_total", {"queue": "q", "executor": executor}) == 1
    oom, died, ok = (claimed("m", f"{i}-0", "process") for i in range(3))
    metrics.claimed("m", [oom, died, ok])
    metrics.finished(failed(oom, JobOutOfMemory("past the limit")), 1.0)
    metrics.finished(failed(died, ChildDied("signal 9")), 1.0)  # a restart (died), not a memory kill
    metrics.finished(Outcome(ok, "succeeded"), 1.0)
    assert r.get_sample_value("rqueues_job_memory_kills_total", {"queue": "m"}) == 1
    assert r.get_sample_value("rqueues_job_timeouts_total", {"queue": "m", "executor": "process"}) is None
    metrics.child_replaced("died")
    assert r.get_sample_value("rqueues_worker_child_restarts_total", {"reason": "died"}) == 1
    assert r.get_sample_value("rqueues_worker_child_restarts_total", {"reason": "recycled"}) == 0
    taken = metrics.stats.take()
    assert (
        taken["q"]["timeouts:process"] == taken["q"]["timeouts:asyncio"] == taken["q"]["timeouts:thread"] == 1
    )
    assert taken["m"]["memory_kills"] == 1 and "timeouts:process" not in taken["m"]


def test_queue_series_start_at_zero_so_rate_sees_the_first() -> None:
    metrics = WorkerMetrics()
    metrics._see_queues(["q"])
    r = metrics.registry
    assert r.get_sample_value("rqueues_job_memory_kills_total", {"queue": "q"}) == 0
    for executor in ("thread", "process", "asyncio"):
        assert r.get_sample_value("rqueues_job_timeouts_total", {"queue": "q", "executor": executor}) == 0


def test_busy_slots_count_the_running_routed_jobs_by_executor() -> None:
    metrics = WorkerMetrics()
    r = metrics.registry
    assert r.get_sample_value("rqueues_worker_busy_slots", {"executor": "process"}) == 0  # before bind
    held = Held()
    running = [claimed("a", "1-0", "process"), claimed("a", "2-0", "process"), claimed("b", "3-0", "asyncio")]
    finished = claimed("a", "4-0", "thread")
    finished.done = True  # its outcome is on the way to Redis: its slot is free
    ahead = claimed("a", "5-0")  # claimed ahead, waiting for a slot: not routed yet
    held.add([*running, finished, ahead])
    metrics._worker = SimpleNamespace(held=held)  # type: ignore[assignment]
    assert r.get_sample_value("rqueues_worker_busy_slots", {"executor": "process"}) == 2
    assert r.get_sample_value("rqueues_worker_busy_slots", {"executor": "asyncio"}) == 1
    assert r.get_sample_value("rqueues_worker_busy_slots", {"executor": "thread"}) == 0


def test_stats_keep_timeouts_and_memory_kills_across_a_round_trip() -> None:
    buffer = StatsBuffer()
    buffer.timed_out("q", "process")
    buffer.timed_out("q", "process")
    buffer.memory_killed("q")
    raw = {k.encode(): str(v).encode() for k, v in buffer.take()["q"].items()}
    now = QueueStats.from_hash(raw)
    assert dict(now.timeouts) == {"process": 2} and now.memory_kills == 1
    earlier = QueueStats(timeouts={"process": 1}, memory_kills=1)
    delta = now.since(earlier)
    assert dict(delta.timeouts) == {"process": 1} and delta.memory_kills == 0
