"""rqueues itself, driven like the peers."""

from __future__ import annotations

import sys
import time
from collections import deque
from collections.abc import Sequence

import rqueues
from rqueues import Queue, connect

from ..adapter import Adapter, Args

QUEUE = "bench"


class System(Adapter):
    name = "rqueues"
    package = "rqueues"
    fast_mode = (
        "thread executor, one process; defaults otherwise: every job has a lease, "
        "a record with its result kept for 1 day, and is acknowledged after the outcome is stored"
    )
    batch_mode = "Queue.enqueue_many (one pipeline)"

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.conn = connect(url)
        self.queue = Queue(QUEUE, self.conn)
        self.keys = self.conn.keys.queue(QUEUE)
        self._last: deque[str] = deque(maxlen=64)  # the most recent job ids, to see them finish

    def version(self) -> str:
        return str(getattr(rqueues, "__version__", "") or super().version())

    def prepare(self, cap: int = 0) -> None:
        self.queue.declare(concurrency=cap)
        self._last.clear()

    def enqueue(self, task: str, args: Args) -> None:
        self._last.append(self.queue.enqueue(f"bench.tasks:{task}", *args).id)

    def enqueue_many(self, task: str, args: Sequence[Args]) -> None:
        fn = f"bench.tasks:{task}"
        jobs = self.queue.enqueue_many([(fn, a, {}) for a in args])
        self._last.extend(j.id for j in jobs[-64:])

    def worker_argv(self, concurrency: int) -> list[str]:
        return [
            sys.executable,
            "-m",
            "rqueues.cli",
            "worker",
            "--redis-url",
            self.url,
            "--queues",
            QUEUE,
            "--concurrency",
            str(concurrency),
            "--import",
            "bench.tasks",
            "--log-level",
            "WARNING",
        ]

    def settled(self, deadline: float) -> float | None:
        """Outcomes are stored by the acker after the body returns: wait for the last ones."""
        ids = list(self._last)
        while time.monotonic() < deadline:
            pipe = self.conn.redis.pipeline(transaction=False)
            for job_id in ids:
                pipe.hget(self.keys.job(job_id), "finished_at")
            done = pipe.execute()
            if all(done):
                return max(int(ms) for ms in done) / 1000
            time.sleep(0.002)
        raise TimeoutError("the last jobs' outcomes were not stored in time")

    def close(self) -> None:
        self.conn.close()
