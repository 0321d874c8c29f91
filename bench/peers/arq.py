"""arq: one asyncio worker process."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from typing import Any

from arq import create_pool
from arq.connections import RedisSettings
from arq.worker import func

from .. import tasks
from ..adapter import Adapter, Args, script, slots

QUEUE = "bench"
#: Seconds between polls of the queue (the default is 0.5).
POLL = 0.001
MAX_JOBS_ENV = "BENCH_ARQ_MAX_JOBS"


async def noop(ctx: dict[str, Any], *args: Any) -> None:
    return None


async def stamp(ctx: dict[str, Any], key: str) -> None:
    tasks.stamp(key)


async def sleep(ctx: dict[str, Any], seconds: float) -> None:
    await asyncio.sleep(seconds)


class WorkerSettings:
    """What `arq bench.peers.arq.WorkerSettings` runs."""

    functions = [func(f, name=f.__name__, keep_result=0, max_tries=1) for f in (noop, stamp, sleep)]
    redis_settings = RedisSettings.from_dsn(os.environ.get(tasks.URL_ENV, "redis://127.0.0.1:6379/0"))
    queue_name = QUEUE
    max_jobs = int(os.environ.get(MAX_JOBS_ENV, "10"))
    poll_delay = POLL
    keep_result = 0


class System(Adapter):
    name = "arq"
    package = "arq"
    fast_mode = f"max_jobs=N, keep_result=0, max_tries=1, poll_delay={POLL * 1000:g} ms (default 500 ms)"
    batch_mode = "enqueue_job calls 100 at a time under asyncio.gather"

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.loop = asyncio.new_event_loop()
        self.pool = self.loop.run_until_complete(create_pool(RedisSettings.from_dsn(url)))

    def enqueue(self, task: str, args: Args) -> None:
        self.loop.run_until_complete(self.pool.enqueue_job(task, *args, _queue_name=QUEUE))

    def enqueue_many(self, task: str, args: Sequence[Args]) -> None:
        async def batch() -> None:
            # Each enqueue_job holds a connection for its WATCH/MULTI: keep 100 in flight.
            for i in range(0, len(args), 100):
                await asyncio.gather(
                    *(self.pool.enqueue_job(task, *a, _queue_name=QUEUE) for a in args[i : i + 100])
                )

        self.loop.run_until_complete(batch())

    def worker_env(self, concurrency: int | None) -> dict[str, str]:
        return {MAX_JOBS_ENV: str(slots(concurrency))}

    def worker_argv(self, concurrency: int | None) -> list[str]:
        return [script("arq"), "bench.peers.arq.WorkerSettings"]

    def close(self) -> None:
        self.loop.run_until_complete(self.pool.aclose())
        self.loop.close()
