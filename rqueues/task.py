"""``@rqueues.task``: a function that knows its queue and options, and enqueues itself.

    @task(queue="heavy", retries=3, timeout=60)
    def resize(path: str, width: int = 100) -> str: ...

    resize("a.png")                          # an ordinary call, here
    job = resize.enqueue("a.png", width=200)  # Job[str]: job.wait() returns a str
    resize.options(job_id="nightly").enqueue("b.png")

The decorator never declares a queue or changes its settings: enqueueing to a queue
nobody declared raises QueueNotDeclared, as with Queue.enqueue.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import threading
import weakref
from collections.abc import Callable, Coroutine
from typing import Any, Generic, ParamSpec, TypeVar, overload

from . import aio
from .backend.keys import check_queue_name
from .connection import Connection, as_connection
from .errors import ConfigurationError
from .functions import function_name
from .job import Job
from .options import JobOptions
from .queue import Queue
from .when import check_aware, delay_seconds

P = ParamSpec("P")
R = TypeVar("R")  # what the job's result is (an async function's awaited value)
C = TypeVar("C")  # what calling the function directly returns

_default: Connection | None = None
_default_lock = threading.Lock()
#: The asyncio connection of each event loop (an asyncio client belongs to its loop).
_aio_given: aio.Connection | None = None
_aio_opened: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aio.Connection] = (
    weakref.WeakKeyDictionary()
)


def _default_connection() -> Connection:
    """The one set_default_connection gave, else connect() once per process."""
    global _default
    with _default_lock:
        if _default is None:
            _default = as_connection(None)
        return _default


async def _aio_connection() -> aio.Connection:
    """The asyncio connection set_default_connection gave, else one per event loop."""
    if _aio_given is not None:
        return _aio_given
    loop = asyncio.get_running_loop()
    conn = _aio_opened.get(loop)
    if conn is None:
        conn = _aio_opened[loop] = await aio.connect()
    return conn


def set_default_connection(connection: Any) -> None:
    """Where tasks declared with a queue name enqueue: a Connection, a URL or a redis-py
    client for ``fn.enqueue``, an ``rqueues.aio`` Connection for ``await fn.aenqueue``, or
    None to go back to connect()'s default ($RQUEUES_REDIS_URL, else localhost) for both.
    Tasks already used keep the blocking connection they were bound to at first use."""
    global _default, _aio_given
    with _default_lock:
        if isinstance(connection, aio.Connection):
            _aio_given = connection
        elif connection is None:
            _default, _aio_given = None, None
        else:
            _default = as_connection(connection)


class Task(Generic[P, C, R]):
    """A module-level function bound to a queue and default job options."""

    def __init__(self, fn: Callable[P, C], queue: str | Queue, options: JobOptions) -> None:
        if isinstance(queue, str):
            check_queue_name(queue)  # now, not at the first enqueue
        elif not isinstance(queue, Queue):
            raise ConfigurationError(f"task(queue=...) takes a queue name or a Queue, got {queue!r}")
        self._fn = fn
        self._queue = queue
        self.job_options = options
        self.name = function_name(fn)  # refuses lambdas, nested functions and __main__ now
        functools.update_wrapper(self, fn)
        #: The function itself, for the worker (an async def stays a coroutine function there).
        self._rqueues_fn = fn

    def __repr__(self) -> str:
        return f"<task {self.name} on queue {self.queue_name!r}>"

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> C:
        return self._fn(*args, **kwargs)

    @property
    def queue_name(self) -> str:
        return self._queue if isinstance(self._queue, str) else self._queue.name

    @property
    def queue(self) -> Queue:
        """The queue jobs go to; a name is bound to the default connection at first use."""
        if isinstance(self._queue, str):
            self._queue = Queue(self._queue, connection=_default_connection())
        return self._queue

    def options(self, **options: Any) -> Task[P, C, R]:
        """The same task with more options (JobOptions fields); the decorator's stay as defaults."""
        merged = {**self.job_options.__dict__, **options}
        return Task(self._fn, self._queue, JobOptions(**merged))

    def enqueue(self, *args: P.args, **kwargs: P.kwargs) -> Job[R]:
        """Enqueue a call of the function; the Job's wait() returns its result."""
        job: Job[R] = self.queue.enqueue_many([(self.name, args, kwargs, self.job_options)])[0]
        return job

    def enqueue_in(self, delay: float | dt.timedelta, *args: P.args, **kwargs: P.kwargs) -> Job[R]:
        """Enqueue it to run ``delay`` (seconds or a timedelta) from now; 0 runs it at once."""
        return self.options(delay=delay_seconds(delay) or None).enqueue(*args, **kwargs)

    def enqueue_at(self, at: dt.datetime, *args: P.args, **kwargs: P.kwargs) -> Job[R]:
        """Enqueue it to run at ``at``, an aware datetime (a naive one is refused)."""
        return self.options(at=check_aware("at", at)).enqueue(*args, **kwargs)

    async def aenqueue(self, *args: P.args, **kwargs: P.kwargs) -> aio.Job[R]:
        """``enqueue`` from asyncio code, on the default asyncio connection."""
        q = aio.Queue(self.queue_name, await _aio_connection())
        job: aio.Job[R] = (await q.enqueue_many([(self.name, args, kwargs, self.job_options)]))[0]
        return job

    async def aenqueue_in(self, delay: float | dt.timedelta, *args: P.args, **kwargs: P.kwargs) -> aio.Job[R]:
        return await self.options(delay=delay_seconds(delay) or None).aenqueue(*args, **kwargs)

    async def aenqueue_at(self, at: dt.datetime, *args: P.args, **kwargs: P.kwargs) -> aio.Job[R]:
        return await self.options(at=check_aware("at", at)).aenqueue(*args, **kwargs)


def task(
    fn: Callable[..., Any] | None = None, /, *, queue: str | Queue | None = None, **options: Any
) -> _Decorator:
    """Make a module-level function a task of ``queue`` with default job ``options``
    (timeout, retries, backoff, backoff_max, retry_on, result_ttl, ...: see JobOptions)."""
    if fn is not None or queue is None:
        raise ConfigurationError(
            "@task needs its queue: write @task(queue='name', ...); the queue must be declared "
            "(rqueues declare NAME or Queue(NAME).declare()), the decorator never declares it"
        )
    return _Decorator(queue, JobOptions(**options))


class _Decorator:
    def __init__(self, queue: str | Queue, options: JobOptions) -> None:
        self.queue, self.job_options = queue, options

    @overload
    def __call__(self, fn: Callable[P, Coroutine[Any, Any, R]]) -> Task[P, Coroutine[Any, Any, R], R]: ...

    @overload
    def __call__(self, fn: Callable[P, R]) -> Task[P, R, R]: ...

    def __call__(self, fn: Callable[P, Any]) -> Task[P, Any, Any]:
        return Task(fn, self.queue, self.job_options)
