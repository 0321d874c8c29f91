"""The measurements, written once for every system (standard library and redis-py only).

Each method flushes Redis, so one run never sees another's leftovers, and
bounds every wait by a deadline.
"""

from __future__ import annotations

import random
import statistics
import threading
import time
from dataclasses import dataclass
from typing import Any

import redis

from .adapter import BATCH, Adapter, Args
from .procs import Workers, machine_cpu
from .redisstats import Snapshot, per_job, snapshot
from .tasks import SMALL_PAYLOAD, URL_ENV

START, END, PROBE = "bench:start", "bench:end", "bench:probe"
SHARES = ("redis_cpu_share", "worker_cpu_share", "workers_cpu_share", "machine_cpu_share")
ARGS: dict[str, Args] = {"noop": (), "payload": SMALL_PAYLOAD}


class Bench:
    def __init__(self, adapter: Adapter, url: str, timeout: float = 120.0) -> None:
        self.a = adapter
        self.r = redis.Redis.from_url(url)
        self.url = url
        self.timeout = timeout
        #: Commands per job of the last drain, by command.
        self.last_details: dict[str, Any] = {}
        #: Raw samples of the last measurement (latency probes, in ms), pooled over the runs.
        self.last_samples: list[float] = []

    def reset(self, cap: int = 0) -> None:
        self.r.flushall()
        self.a.prepare(cap)

    def workers(self, concurrency: int | None, processes: int = 1) -> Workers:
        env = {URL_ENV: self.url, **self.a.worker_env(concurrency)}
        return Workers(self.a.worker_argv(concurrency), env, processes)

    # -- enqueue ------------------------------------------------------------

    def fill(self, n: int, kind: str = "noop", task: str = "noop", batched: bool = True) -> None:
        """Queue ``n`` jobs, batched when the system can."""
        args = ARGS.get(kind, ())
        if batched and self.a.batch_mode:
            for i in range(0, n, BATCH):
                self.a.enqueue_many(task, [args] * min(BATCH, n - i))
        else:
            for _ in range(n):
                self.a.enqueue(task, args)

    def enqueue_rate(self, n: int, batched: bool) -> float | None:
        """Jobs per second enqueued by one client thread, no worker running."""
        if batched and not self.a.batch_mode:
            return None
        self.reset()
        t0 = time.perf_counter()
        self.fill(n, batched=batched)
        return n / (time.perf_counter() - t0)

    def queued_memory(self, n: int, kind: str = "noop") -> float:
        """Bytes of Redis memory per waiting job (INFO used_memory delta)."""
        self.reset()
        before = snapshot(self.r).used_memory
        self.fill(n, kind)
        return (snapshot(self.r).used_memory - before) / n

    # -- drain ----------------------------------------------------------------

    def drain(
        self,
        n: int,
        concurrency: int | None = None,
        processes: int = 1,
        kind: str = "noop",
        cap: int = 0,
        sleep: float = 0.0,
        batched: bool = False,
    ) -> dict[str, Any]:
        """A backlog of ``n`` jobs between two stamps, drained by fresh worker processes.

        The backlog is enqueued one call at a time unless ``batched``, and Redis'
        commands are counted over enqueue and drain together, divided by the jobs
        (the same count for every system). The rate runs from the first stamp's
        start to the last stamp's start (or to the last stored outcome, where the
        system stores it later), so worker start-up is not counted.
        """
        self.reset(cap)
        empty = snapshot(self.r)
        self.a.enqueue("stamp", (START,))
        t0 = time.perf_counter()
        if sleep:
            self._sleep_jobs(n, sleep)
        else:
            self.fill(n, kind, batched=batched)
        fill_seconds = time.perf_counter() - t0
        self.a.enqueue("stamp", (END,))
        before = snapshot(self.r)
        deadline = time.monotonic() + self.timeout
        with self.workers(concurrency, processes) as w:
            started = self._pop(START, w, deadline)
            mark = Usage.now(self.r, w)
            ended = self._pop(END, w, deadline)
            ended = max(ended, self.a.settled(deadline) or 0.0)
            used = Usage.now(self.r, w)
            rss = w.rss_bytes() / processes
        stored = snapshot(self.r).used_memory  # workers gone: only what they left behind
        work = per_job(before, used.server, n + 2)
        total = per_job(empty, used.server, n + 2)
        self.last_details = {"top_commands_per_job": total["top_commands_per_job"]}
        return {
            "rate": n / (ended - started),
            "enqueue_rate": n / fill_seconds,
            "rss_mib": rss / 2**20,
            "worker_cpu_us_per_job": (sum(used.workers) - sum(mark.workers)) * 1e6 / n,
            "record_bytes": (stored - empty.used_memory) / (n + 2),
            "commands_per_job": total["commands_per_job"],
            "work_commands_per_job": work["commands_per_job"],
            "round_trips_per_job": work["round_trips_per_job"],
            "enqueue_round_trips_per_job": per_job(empty, before, n + 2)["round_trips_per_job"],
            "redis_cpu_us_per_job": work["redis_cpu_us_per_job"],
            **used.shares_since(mark),
        }

    def _sleep_jobs(self, n: int, seconds: float) -> None:
        for i in range(0, n, BATCH):
            count = min(BATCH, n - i)
            if self.a.batch_mode:
                self.a.enqueue_many("sleep", [(seconds,)] * count)
            else:
                for _ in range(count):
                    self.a.enqueue("sleep", (seconds,))

    def _pop(self, key: str, workers: Workers, deadline: float) -> float:
        while time.monotonic() < deadline:
            reply = self.r.blpop([key], timeout=0.5)
            if reply is not None:
                return float(reply[1])
            workers.check()
        raise TimeoutError(f"no {key!r} stamp within {self.timeout:.0f}s: {workers.log_tail(500)}")

    def scaling(self, n: int, processes: tuple[int, ...] = (1, 2, 4)) -> dict[str, float]:
        """Drain rate and CPU shares with 1, 2, ... default worker processes against one Redis."""
        out: dict[str, float] = {}
        for p in processes:
            r = self.drain(n, None, p, batched=True)
            for field in (
                "rate",
                "redis_cpu_share",
                "worker_cpu_share",
                "workers_cpu_share",
                "machine_cpu_share",
            ):
                out[f"{field}_{p}p"] = r[field]
        for p in processes[1:]:
            out[f"speedup_{p}p"] = out[f"rate_{p}p"] / out[f"rate_{processes[0]}p"]
        return out

    # -- latency --------------------------------------------------------------

    def latency(
        self, probes: int, concurrency: int | None = None, load_rate: int = 0, max_gap: float = 0.5
    ) -> dict[str, float]:
        """Enqueue-to-start latency on a worker that has been idle: a stamp job per probe.

        Each probe waits a random 0 to ``max_gap`` seconds, takes t0 just before the
        enqueue call, and the job's first statement reads the clock; the worker
        has gone back to waiting in between, as a user's mostly idle worker has.
        With ``load_rate`` a thread enqueues that many no-op jobs per second
        meanwhile. Also counts the requests an idle worker sends Redis in a
        second (pollers pay for their latency there).
        """
        self.reset()
        deadline = time.monotonic() + self.timeout + probes * max_gap
        with self.workers(concurrency) as w:
            for _ in range(5):  # the worker is up and has run a job
                self.a.enqueue("stamp", (PROBE,))
                self._pop(PROBE, w, deadline)
            before = snapshot(self.r)
            time.sleep(1.0)
            idle = (snapshot(self.r).reads - before.reads - 4) / 1.0
            load = Load(self.a, load_rate) if load_rate else None
            try:
                seconds = []
                for _ in range(probes):
                    time.sleep(random.uniform(0.0, max_gap))
                    t0 = time.time()
                    self.a.enqueue("stamp", (PROBE,))
                    seconds.append(self._pop(PROBE, w, deadline) - t0)
            finally:
                if load:
                    load.stop()
        self.last_samples = [s * 1000 for s in seconds]
        return {
            "p50_ms": statistics.median(seconds) * 1000,
            "p99_ms": percentile(seconds, 99) * 1000,
            "idle_requests_per_s": idle,
        }


def percentile(values: list[float], pct: int) -> float:
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[pct - 1]


@dataclass(frozen=True)
class Usage:
    """CPU used so far by Redis, by each worker process group and by the whole machine."""

    at: float
    server: Snapshot
    workers: list[float]
    machine: tuple[float, float]  # busy, total CPU seconds, every core summed

    @classmethod
    def now(cls, r: redis.Redis, workers: Workers) -> Usage:
        return cls(time.monotonic(), snapshot(r), workers.cpu_by_worker(), machine_cpu())

    def shares_since(self, before: Usage) -> dict[str, float]:
        """Cores' worth of CPU used per second of wall time: which resource ran out."""
        wall = self.at - before.at
        busy = self.machine[0] - before.machine[0]
        total = self.machine[1] - before.machine[1]
        per_worker = [b - a for a, b in zip(before.workers, self.workers, strict=True)]
        return {
            "redis_cpu_share": (self.server.cpu - before.server.cpu) / wall,
            # The busiest worker process (with threads, one process rarely passes one core: the GIL).
            "worker_cpu_share": max(per_worker) / wall,
            "workers_cpu_share": sum(per_worker) / wall,
            # Busy over available: 1.0 when every core of the machine was busy the whole time.
            "machine_cpu_share": busy / total if total else 0.0,
        }


class Load:
    """Enqueues no-op jobs at a steady rate on a thread, 100 bursts a second."""

    def __init__(self, adapter: Adapter, rate: int) -> None:
        self.adapter = adapter
        self.per_tick = max(1, rate // 100)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        tick = time.monotonic()
        while not self._stop.is_set():
            if self.adapter.batch_mode:
                self.adapter.enqueue_many("noop", [()] * self.per_tick)
            else:
                for _ in range(self.per_tick):
                    self.adapter.enqueue("noop", ())
            tick += 0.01
            self._stop.wait(max(0.0, tick - time.monotonic()))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
