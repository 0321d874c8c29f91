"""The measurements, written once for every system (standard library and redis-py only).

Each method flushes Redis, so one run never sees another's leftovers, and
bounds every wait by a deadline.
"""

from __future__ import annotations

import random
import statistics
import threading
import time
from typing import Any

import redis

from .adapter import BATCH, Adapter, Args
from .procs import Workers
from .redisstats import per_job, snapshot
from .tasks import SMALL_PAYLOAD, URL_ENV

START, END, PROBE = "bench:start", "bench:end", "bench:probe"
ARGS: dict[str, Args] = {"noop": (), "payload": SMALL_PAYLOAD}


class Bench:
    def __init__(self, adapter: Adapter, url: str, timeout: float = 120.0) -> None:
        self.a = adapter
        self.r = redis.Redis.from_url(url)
        self.url = url
        self.timeout = timeout
        #: Commands per job of the last drain, by command.
        self.last_details: dict[str, Any] = {}

    def reset(self, cap: int = 0) -> None:
        self.r.flushall()
        self.a.prepare(cap)

    def workers(self, concurrency: int, processes: int = 1) -> Workers:
        return Workers(
            self.a.worker_argv(concurrency), {URL_ENV: self.url, **self.a.worker_env(concurrency)}, processes
        )

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
        concurrency: int,
        processes: int = 1,
        kind: str = "noop",
        cap: int = 0,
        sleep: float = 0.0,
    ) -> dict[str, Any]:
        """A backlog of ``n`` jobs between two stamps, drained by fresh worker processes.

        The rate runs from the first stamp's start to the last stamp's start
        (or to the last stored outcome, where the system stores it later), so
        worker start-up is not counted.
        """
        self.reset(cap)
        empty = snapshot(self.r).used_memory
        self.a.enqueue("stamp", (START,))
        if sleep:
            for i in range(0, n, BATCH):
                self._sleep_batch(min(BATCH, n - i), sleep)
        else:
            self.fill(n, kind)
        self.a.enqueue("stamp", (END,))
        before = snapshot(self.r)
        deadline = time.monotonic() + self.timeout
        with self.workers(concurrency, processes) as w:
            started = self._pop(START, w, deadline)
            cpu = w.cpu_seconds()
            ended = self._pop(END, w, deadline)
            ended = max(ended, self.a.settled(deadline) or 0.0)
            cpu = w.cpu_seconds() - cpu
            after = snapshot(self.r)
            rss = w.rss_bytes() / processes
        stored = snapshot(self.r).used_memory  # workers gone: only what they left behind
        counts = per_job(before, after, n + 2)
        self.last_details = {"top_commands_per_job": counts.pop("top_commands_per_job")}
        return {
            "rate": n / (ended - started),
            "rss_mib": rss / 2**20,
            "worker_cpu_us_per_job": cpu * 1e6 / n,
            "record_bytes": (stored - empty) / (n + 2),
            **counts,
        }

    def _sleep_batch(self, count: int, seconds: float) -> None:
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

    # -- latency --------------------------------------------------------------

    def latency(self, probes: int, concurrency: int, load_rate: int = 0) -> dict[str, float]:
        """Enqueue-to-start latency: enqueue a stamp job, wait for its body to start.

        Probes are spaced by 3 to 8 ms so an idle worker is back to waiting;
        with ``load_rate`` a thread enqueues that many no-op jobs per second
        meanwhile. Also counts the requests an idle worker sends Redis in a
        second (pollers pay for their latency there).
        """
        self.reset()
        deadline = time.monotonic() + self.timeout
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
                    time.sleep(random.uniform(0.003, 0.008))
                    t0 = time.time()
                    self.a.enqueue("stamp", (PROBE,))
                    seconds.append(self._pop(PROBE, w, deadline) - t0)
            finally:
                if load:
                    load.stop()
        return {
            "p50_ms": statistics.median(seconds) * 1000,
            "p99_ms": statistics.quantiles(seconds, n=100, method="inclusive")[98] * 1000,
            "idle_requests_per_s": idle,
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
