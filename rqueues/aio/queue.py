"""Queues for asyncio code: declare, enqueue and read, on the blocking Queue's steps."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any

from ..backend.keys import check_queue_name
from ..config import QueueConfig
from ..enqueueing import enqueue_steps, lone_written, lone_xadd, prepare_row
from ..middleware import run_after_enqueue, run_before_enqueue
from ..options import JobOptions
from ..queue import Call, config_steps, declare_steps, declared, pause_steps
from ..when import check_aware, delay_seconds
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
        """Enqueue it to run ``delay`` (seconds or a timedelta) from now; 0 runs it at once."""
        options = JobOptions(delay=delay_seconds(delay) or None)
        return (await self.enqueue_many([(fn, args, kwargs, options)]))[0]

    async def enqueue_at(
        self, at: dt.datetime, fn: Callable[..., Any] | str, *args: Any, **kwargs: Any
    ) -> Job:
        """Enqueue it to run at ``at``, an aware datetime (a naive one is refused)."""
        return (await self.enqueue_many([(fn, args, kwargs, JobOptions(at=check_aware("at", at)))]))[0]

    async def pause(self) -> None:
        """Start no job of this queue until resume(); enqueues are accepted."""
        await self.connection.run(pause_steps(self.keys, True))

    async def resume(self) -> None:
        await self.connection.run(pause_steps(self.keys, False))

    def options(self, **options: Any) -> BoundQueue:
        """``await q.options(job_id="x", retries=3).enqueue(fn, ...)``; see JobOptions."""
        return BoundQueue(self, JobOptions(**options))

    async def enqueue_many(self, calls: Iterable[Call]) -> list[Job]:
        """Enqueue many calls in one round trip, all or nothing, as Queue.enqueue_many does."""
        enqueues = run_before_enqueue(self.name, calls)  # the same middleware as the blocking client
        prepared = [prepare_row(call, self.connection.max_payload_bytes) for call in enqueues]
        if (xadd := lone_xadd(self.keys, prepared)) is not None:
            written = lone_written(self.keys, await self.connection.execute(*xadd))
        else:
            written = await self.connection.run(enqueue_steps(self.connection.keys, self.keys, prepared))
        jobs = [Job(job_id, self.name, self.connection, duplicate=dup) for job_id, dup in written]
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
