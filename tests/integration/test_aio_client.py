"""rqueues.aio against a real Redis and a real worker: the same queues as the blocking client."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from rqueues import (
    Connection,
    DuplicateJob,
    JobFailed,
    Queue,
    QueueNotDeclared,
    RedisUnavailable,
    WaitTimeout,
    aio,
)


def run(coro: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    return asyncio.run(coro())


@pytest.fixture
def declared(conn: Connection) -> Queue:
    q = Queue("aio", connection=conn)
    q.declare()
    return q


def test_enqueued_by_one_client_awaited_by_the_other(
    declared: Queue, redis_url: str, quick_worker: Callable[..., Any]
) -> None:
    quick_worker(queues=["aio"])

    async def main() -> tuple[Any, Any]:
        async with aio.connect(redis_url) as rq:
            q = rq.queue("aio")
            job = await q.enqueue("tasks:add", 2, 3)
            from_sync = declared.enqueue("tasks:add", 10, 20)  # the blocking client's job
            return await job.wait(timeout=20), await aio.Job(from_sync.id, "aio", rq).wait(timeout=20)

    mine, theirs = run(main)
    assert (mine, theirs) == (5, 30)


def test_blocking_wait_awaits_an_asyncio_enqueue(
    declared: Queue, redis_url: str, quick_worker: Callable[..., Any]
) -> None:
    async def enqueue() -> str:
        async with aio.connect(redis_url) as rq:
            return (await rq.queue("aio").options(job_id="from-aio").enqueue("tasks:echo", "x", k=1)).id

    job_id = run(enqueue)
    quick_worker(queues=["aio"])
    assert declared.job(job_id).wait(timeout=20) == {"args": ["x"], "kwargs": {"k": 1}}


def test_wait_blocks_in_redis_without_polling(declared: Queue, conn: Connection, redis_url: str) -> None:
    job = declared.enqueue("tasks:noop")  # no worker: it stays queued
    conn.redis.config_resetstat()

    async def main() -> None:
        async with aio.connect(redis_url) as rq:
            with pytest.raises(WaitTimeout):
                await aio.Job(job.id, "aio", rq).wait(timeout=1.5)

    started = time.monotonic()
    run(main)
    assert time.monotonic() - started >= 1.4
    stats = conn.redis.info("commandstats")
    calls = sum(v["calls"] for v in stats.values())
    assert stats["cmdstat_xread"]["calls"] <= 2  # one block, and one more at most
    assert calls < 20, stats  # a poller would have sent hundreds


def test_cancelling_the_awaiting_task_stops_the_wait(declared: Queue, redis_url: str) -> None:
    job = declared.enqueue("tasks:noop")

    async def main() -> str:
        async with aio.connect(redis_url) as rq:
            waiting = asyncio.create_task(aio.Job(job.id, "aio", rq).wait())
            await asyncio.sleep(0.2)
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
            # The connection still serves after the cancelled blocking read.
            return await (await rq.queue("aio").enqueue("tasks:noop")).state()

    assert run(main) == "queued"


def test_cancel_fetch_state_and_record(declared: Queue, redis_url: str) -> None:
    async def main() -> None:
        async with aio.connect(redis_url) as rq:
            q = rq.queue("aio")
            job = await q.enqueue("tasks:add", 1, 2)
            found = await aio.Job.fetch(job.id, rq)
            assert found == job
            assert await found.state() == "queued"
            record = await found.record()
            assert record.function == "tasks:add" and record.call() == ([1, 2], {})
            assert await job.cancel() is True
            assert await job.state() == "cancelled"
            assert await job.cancel() is False
            assert await job.stop() is False

    run(main)
    assert declared.info().waiting == 1  # a tombstone: XINFO lag stays exact


def test_a_failure_raises_the_remote_error(
    declared: Queue, redis_url: str, quick_worker: Callable[..., Any]
) -> None:
    quick_worker(queues=["aio"])

    async def main() -> None:
        async with aio.connect(redis_url) as rq:
            job = await rq.queue("aio").enqueue("tasks:fail", "nope")
            with pytest.raises(JobFailed) as info:
                await job.wait(timeout=20)
            assert "nope" in str(info.value)

    run(main)


def test_declare_enqueue_many_and_errors(conn: Connection, redis_url: str) -> None:
    async def main() -> None:
        rq = await aio.connect(redis_url)
        try:
            q = rq.queue("batch")
            with pytest.raises(QueueNotDeclared):
                await q.enqueue("tasks:noop")
            config = await q.declare(concurrency=3, tags=["has=gpu"])
            assert (config.concurrency, config.tags) == (3, ("has=gpu",))
            assert (await q.config()).version == config.version
            jobs = await q.enqueue_many([("tasks:add", (i, i), {}) for i in range(100)])
            assert len({j.id for j in jobs}) == 100
            await q.options(job_id="once").enqueue("tasks:noop")
            with pytest.raises(DuplicateJob):
                await q.options(job_id="once").enqueue("tasks:noop")
            delayed = await q.enqueue_in(60, "tasks:noop")
            assert await delayed.state() == "scheduled"
        finally:
            await rq.aclose()

    run(main)
    assert Queue("batch", connection=conn).config().concurrency == 3  # the same queue for both clients
    assert Queue("batch", connection=conn).info().waiting == 101


def test_unreachable_redis_is_named(unused_port: int) -> None:
    async def main() -> None:
        async with aio.connect(f"redis://127.0.0.1:{unused_port}/0") as rq:
            await rq.queue("x").enqueue("tasks:noop")

    with pytest.raises(RedisUnavailable) as info:
        run(main)
    assert f"127.0.0.1:{unused_port}" in str(info.value)


@pytest.fixture
def unused_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_listing_pages(conn: Connection, declared: Queue, redis_url: str) -> None:
    for i in range(7):
        declared.enqueue("tasks:add", i, i)

    async def main() -> list[list[str]]:
        pages = []
        async with aio.connect(redis_url) as rq:
            cursor = None
            for _ in range(10):  # bounded: 7 jobs in pages of 3
                page = await aio.list_jobs(rq, ["aio"], state="queued", limit=3, cursor=cursor)
                pages.append([r.id for r in page])
                cursor = page.next_cursor
                if cursor is None:
                    break
        return pages

    from rqueues.observe.listing import list_jobs

    sync_ids = [r.id for r in list_jobs(conn, ["aio"], state="queued", limit=100)]
    pages = asyncio.run(main())
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [i for p in pages for i in p] == sync_ids
