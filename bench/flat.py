"""Cost in queue length: one enqueue and one claim, timed with few and with many jobs waiting.

rqueues only (it uses the library directly). Two queues are filled, one with a
short backlog and one with a long one, and the timings alternate between them
in small blocks, so the machine's drift over the run weighs on both alike and
their ratio is measured within one run. The claim is the worker's own dispatch
step (``Worker.run_once``: claim with its lease, start, hand to a slot) on a
worker whose slot threads never start, so each step takes exactly one job and
nothing runs it.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from .adapter import BATCH
from .workload import Bench

FN = "bench.tasks:noop"
#: Samples per block; blocks alternate between the two queues.
BLOCK = 25


def flat_cost(bench: Bench, small: int, large: int, samples: int, bound: float) -> dict[str, float]:
    """Median microseconds of one enqueue and one claim at ``small`` and at ``large`` waiting.

    The long backlog is filled with batched enqueues within ``bound`` seconds; if
    that runs out, the figures are taken at the length reached (``waiting_large``).
    """
    from rqueues import Queue, Worker

    bench.reset()
    conn = bench.a.conn  # type: ignore[attr-defined]
    sides = []
    for name, n in (("flat-small", small), ("flat-large", large)):
        q = Queue(name, conn)
        q.declare()
        reached = fill(q, n + 1, time.monotonic() + bound)
        worker = Worker(conn, queues=[name], concurrency=1, reaper=False, refresh_seconds=3600)
        claim(worker)  # the first step also reads the declared queues: not timed
        sides.append(Side(q, worker, reached - 1))
    for block in range(max(1, samples // BLOCK)):
        for side in sides if block % 2 == 0 else sides[::-1]:
            side.measure(BLOCK)
    lo, hi = sides
    return {
        "enqueue_us_small": lo.enqueue_us,
        "enqueue_us_large": hi.enqueue_us,
        "enqueue_ratio": hi.enqueue_us / lo.enqueue_us,
        "claim_us_small": lo.claim_us,
        "claim_us_large": hi.claim_us,
        "claim_ratio": hi.claim_us / lo.claim_us,
        "waiting_small": float(lo.waiting),
        "waiting_large": float(hi.waiting),
    }


class Side:
    """One queue, its worker, and the timings taken on it."""

    def __init__(self, queue: Any, worker: Any, waiting: int) -> None:
        self.queue, self.worker, self.waiting = queue, worker, waiting
        self.enqueues: list[float] = []
        self.claims: list[float] = []

    def measure(self, count: int) -> None:
        """``count`` single enqueues, then as many claims: the backlog ends where it began."""
        for _ in range(count):
            t0 = time.perf_counter()
            self.queue.enqueue(FN)
            self.enqueues.append(time.perf_counter() - t0)
        for _ in range(count):
            t0 = time.perf_counter()
            claim(self.worker)
            self.claims.append(time.perf_counter() - t0)

    @property
    def enqueue_us(self) -> float:
        return statistics.median(self.enqueues) * 1e6

    @property
    def claim_us(self) -> float:
        return statistics.median(self.claims) * 1e6


def fill(queue: Any, n: int, deadline: float) -> int:
    """Batched enqueues (the library's enqueue_many) until ``n`` or the deadline; how many."""
    done = 0
    while done < n and time.monotonic() < deadline:
        count = min(BATCH, n - done)
        queue.enqueue_many([(FN, (), {})] * count)
        done += count
    return done


def claim(worker: Any) -> None:
    """One dispatch step that must take exactly one job; its slot is given back at once."""
    taken = worker.run_once(block=False).claimed
    if taken != 1:
        raise RuntimeError(f"a dispatch step took {taken} jobs, expected 1")
    worker.slots.release()
