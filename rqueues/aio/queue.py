"""Queues for asyncio code: declare, enqueue and read, on the blocking Queue's steps."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any

from ..backend.keys import check_queue_name
from ..config import QueueConfig
from ..middleware import run_after_enqueue, run_before_enqueue
from ..options import JobOptions
from ..queue import Call, _row, config_steps, declare_steps, declared, enqueue_steps
from .job import Job
from .store import Store


class Queue:
    """A named queue; ``rqueues.Queue``'s methods, awaited."""

    def __init__(self, name: str, connection: Store) -> None:
        if not isinstance(connection, Store):
            raise TypeError(
                f"rqueues.aio.Queue needs an rqueues.aio connection (await rqueues.aio.connect()), "
                f"got {connection!r}"
            )
        self.name = check_queue_name(name)
        self.connection = connection
        self.keys = connection.keys.queue(name)

    def __repr__(self) -> str:
        return f"aio.Queue({self.name!r})"

    async def declare(self, **settings: Any) -> QueueConfig:
        """Create the queue or replace its settings: the keyword arguments of Queue.declare."""
        return await self.connection.run(declare_steps(self.connection.keys, declared(self.name, settings)))

    async def config(self) -> QueueConfig:
        return await self.connection.run(config_steps(self.keys))

    async def enqueue(self, fn: Callable[..., Any] | str, *args: Any, **kwargs: Any) -> Job:
        """Enqueue ``fn(*args, **kwargs)``; ``fn`` is a module-level function or 'module:name'."""
        return (await self.enqueue_many([(fn, args, kwargs)]))[0]

    async def enqueue_in(
        self, delay: float | dt.timedelta, fn: Callable[..., Any] | str, *args: Any, **kwargs: Any
    ) -> Job:
        seconds = delay.total_seconds() if isinstance(delay, dt.timedelta) else delay
        return await self.options(delay=seconds).enqueue(fn, *args, **kwargs)

    def options(self, **options: Any) -> BoundQueue:
        """``await q.options(job_id="x", retries=3).enqueue(fn, ...)``; see JobOptions."""
        return BoundQueue(self, JobOptions(**options))

    async def enqueue_many(self, calls: Iterable[Call]) -> list[Job]:
        """Enqueue many calls in one round trip, all or nothing, as Queue.enqueue_many does."""
        enqueues = run_before_enqueue(self.name, calls)  # the same middleware as the blocking client
        rows = [_row(call, self.connection.max_payload_bytes) for call in enqueues]
        ids = await self.connection.run(enqueue_steps(self.keys, rows))
        jobs = [Job(job_id, self.name, self.connection) for job_id in ids]
        run_after_enqueue(enqueues, jobs)
        return jobs

    def job(self, job_id: str) -> Job:
        return Job(job_id, self.name, self.connection)


class BoundQueue:
    """A queue with per-job options bound; made by Queue.options()."""

    def __init__(self, queue: Queue, options: JobOptions) -> None:
        self.queue = queue
        self.job_options = options

    async def enqueue(self, fn: Callable[..., Any] | str, *args: Any, **kwargs: Any) -> Job:
        return (await self.queue.enqueue_many([(fn, args, kwargs, self.job_options)]))[0]
