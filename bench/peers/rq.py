"""RQ: one SimpleWorker (runs jobs in its own process instead of forking one per job)."""

from __future__ import annotations

from collections.abc import Sequence

from redis import Redis
from rq import Queue

from ..adapter import Adapter, Args, script

QUEUE = "bench"


class System(Adapter):
    name = "rq"
    concurrent = False
    package = "rq"
    fast_mode = "SimpleWorker (no fork per job), result_ttl=0 (results not kept); one job at a time"
    batch_mode = "Queue.enqueue_many with a pipeline"

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.redis = Redis.from_url(url)
        self.queue = Queue(QUEUE, connection=self.redis)

    def enqueue(self, task: str, args: Args) -> None:
        self.queue.enqueue(f"bench.tasks.{task}", *args, result_ttl=0)

    def enqueue_many(self, task: str, args: Sequence[Args]) -> None:
        fn = f"bench.tasks.{task}"
        with self.redis.pipeline() as pipe:
            self.queue.enqueue_many([Queue.prepare_data(fn, a, result_ttl=0) for a in args], pipeline=pipe)
            pipe.execute()

    def worker_argv(self, concurrency: int | None) -> list[str]:
        # RQ runs one job at a time per worker process: concurrency does not apply.
        return [
            script("rq"),
            "worker",
            "--url",
            self.url,
            "--worker-class",
            "rq.worker.SimpleWorker",
            "--logging_level",
            "WARNING",
            QUEUE,
        ]

    def close(self) -> None:
        self.redis.close()
