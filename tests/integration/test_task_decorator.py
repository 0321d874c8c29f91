"""@rqueues.task: enqueue from the function itself, options as defaults, sync and async jobs."""

from __future__ import annotations

import asyncio
import datetime
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from decorated_tasks import flaky, scale, slow_upper, whoami

import rqueues
from rqueues import ConfigurationError, Connection, Queue, QueueNotDeclared, aio


@pytest.fixture(autouse=True)
def default_connection(conn: Connection) -> Iterator[None]:
    """Tasks bind their queue at first use: rebind them to this test's connection."""
    rqueues.set_default_connection(conn)
    for t in (flaky, scale, slow_upper, whoami):
        t._queue = t.queue_name
    yield
    rqueues.set_default_connection(None)


@pytest.fixture
def bound(conn: Connection) -> Connection:
    """The tasks' queue declared."""
    Queue("decorated", connection=conn).declare()
    return conn


def test_decorated_jobs_run_in_a_worker_process(
    bound: Connection, worker_process: Callable[..., Any], redis_url: str
) -> None:
    worker_process("--import", "decorated_tasks", "--queues", "decorated")
    assert scale.enqueue(21).wait(timeout=30) == 42
    assert scale.enqueue(2, factor=5).wait(timeout=30) == 10
    assert slow_upper.enqueue("abc").wait(timeout=30) == "ABC"  # async def: awaited, not a coroutine
    job = flaky.enqueue("flaky-attempts", redis_url)
    assert job.wait(timeout=30) == 2  # the decorator's retries applied
    assert job.record().attempts == 2
    assert whoami.enqueue().wait(timeout=30) != os.getpid()


def test_direct_call_runs_here(bound: Connection) -> None:
    assert scale(4) == 8
    assert bound.queue("decorated").info().waiting == 0


def test_options_override_the_decorators(bound: Connection) -> None:
    job = scale.options(job_id="scale-7", retries=0, timeout=5).enqueue(7)
    assert job.id == "scale-7"
    options = job.record().options
    assert options["retries"] == 0 and options["timeout"] == 5  # overridden and added
    assert options["backoff"] == 0.01  # the decorator's, kept
    assert scale.job_options.retries == 2  # the decorator's options are unchanged


def test_enqueue_in_and_at_wait_in_the_scheduled_set(bound: Connection) -> None:
    assert scale.enqueue_in(60, 1).state == "scheduled"
    assert scale.enqueue_in(datetime.timedelta(minutes=5), 2).state == "scheduled"
    at = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
    assert scale.enqueue_at(at, 3).record().due_at is not None
    with pytest.raises(ConfigurationError, match="naive"):
        scale.enqueue_at(datetime.datetime(2030, 1, 1), 4)


def test_undeclared_queue_is_never_declared_by_the_decorator(conn: Connection) -> None:
    with pytest.raises(QueueNotDeclared):
        scale.enqueue(1)
    assert not conn.redis.exists(conn.keys.queue("decorated").config)


def test_queue_object_binds_its_connection(conn: Connection) -> None:
    q = Queue("bound-q", connection=conn)
    q.declare()

    def double(x: int) -> int:
        return 2 * x

    double.__module__, double.__qualname__ = "decorated_tasks", "double"
    t = rqueues.task(queue=q)(double)
    assert t.enqueue(3).queue == "bound-q"


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda: rqueues.task(lambda: None), "@task needs its queue"),
        (lambda: rqueues.task(queue="ok")(lambda: None), "lambdas and nested functions"),
        (lambda: rqueues.task(queue="bad name!")(scale), "queue name"),
        (lambda: rqueues.task(queue="ok", retries=-1), "retries"),
        (lambda: rqueues.task(queue="ok", colour="red"), "colour"),
    ],
)
def test_bad_declarations_name_the_problem(make: Callable[[], Any], problem: str) -> None:
    with pytest.raises((ConfigurationError, TypeError)) as info:
        make()
    assert problem in str(info.value)


def test_aenqueue_from_asyncio_code(
    bound: Connection, redis_url: str, worker_process: Callable[..., Any]
) -> None:
    worker_process("--import", "decorated_tasks", "--queues", "decorated")

    async def main() -> tuple[int, str]:
        async with aio.connect(redis_url) as rq:
            rqueues.set_default_connection(rq)
            sync_job = await scale.aenqueue(5, factor=3)
            async_job = await slow_upper.aenqueue("xyz")
            return await sync_job.wait(timeout=30), await async_job.wait(timeout=30)

    assert asyncio.run(main()) == (15, "XYZ")


def test_aenqueue_opens_a_connection_per_event_loop(
    bound: Connection, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RQUEUES_REDIS_URL", redis_url)
    rqueues.set_default_connection(None)

    async def main() -> str:
        return (await scale.aenqueue(1)).id

    first, second = asyncio.run(main()), asyncio.run(main())  # two loops: no client shared across them
    assert first != second
    assert bound.queue("decorated").info().waiting == 2
