"""rqueues itself, driven like the peers."""

from __future__ import annotations

import sys
import time
from collections import deque
from collections.abc import Sequence

import rqueues
from rqueues import Queue, connect
from rqueues.defaults import CONCURRENCY

from ..adapter import Adapter, Args

QUEUE = "bench"


class System(Adapter):
    name = "rqueues"
    package = "rqueues"
    fast_mode = (
        f"`rqueues worker` with its defaults ({CONCURRENCY} slots, thread executor, INFO job log lines); "
        "every job has a lease, a record with its result kept for 1 day, and is acknowledged "
        "after the outcome is stored"
    )
    batch_mode = "Queue.enqueue_many (one pipeline)"

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.conn = connect(url)
        self.queue = Queue(QUEUE, self.conn)
        self.keys = self.conn.keys.queue(QUEUE)
        self._last: deque[str] = deque(maxlen=64)  # the most recent job ids, to see them finish
        self.executor = "thread"  # the queue's executor (bench/executors.py sets the others)
        self.module = "bench.tasks"  # where the job bodies are (async ones: bench.async_tasks)

    def version(self) -> str:
        return str(getattr(rqueues, "__version__", "") or super().version())

    def prepare(self, cap: int = 0) -> None:
        self.queue.declare(concurrency=cap, executor=self.executor)
        self._last.clear()

    def enqueue(self, task: str, args: Args) -> None:
        self._last.append(self.queue.enqueue(f"{self.module}:{task}", *args).id)

    def enqueue_many(self, task: str, args: Sequence[Args]) -> None:
        fn = f"{self.module}:{task}"
        jobs = self.queue.enqueue_many([(fn, a, {}) for a in args])
        self._last.extend(j.id for j in jobs[-64:])

    def worker_argv(self, concurrency: int | None) -> list[str]:
        """`rqueues worker` as a user starts it: no tuning flags unless a step sets the slots.

        Logging stays at its default (INFO, a start and an end line per job), written
        to a file as a service manager would capture it.
        """
        argv = [sys.executable, "-m", "rqueues.cli", "worker", "--redis-url", self.url]
        argv += ["--import", "bench.tasks"]
        argv += ["--import", self.module] if self.module != "bench.tasks" else []
        return argv if concurrency is None else [*argv, "--concurrency", str(concurrency)]

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
