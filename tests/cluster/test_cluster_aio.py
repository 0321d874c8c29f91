"""rqueues.aio on a 3-primary Redis Cluster: queues in several slots, waits, cancel, fetch."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from rqueues import Connection, Queue, aio


def test_asyncio_client_on_the_cluster(
    conn: Connection, cluster_url: str, start_worker: Any, spread_queues: Callable[[int], list[str]]
) -> None:
    names = spread_queues(2)  # two queues in different slots

    async def main() -> None:
        async with aio.connect(cluster_url) as rq:
            for name in names:
                await rq.queue(name).declare(concurrency=2)
            start_worker(queues=names, concurrency=4)
            jobs = [await rq.queue(n).enqueue("tasks:add", i, 1) for i, n in enumerate(names)]
            batch = await rq.queue(names[1]).enqueue_many([("tasks:add", (i, i), {}) for i in range(30)])
            assert [await j.wait(timeout=20) for j in jobs] == [1, 2]
            assert [await j.wait(timeout=20) for j in batch] == [2 * i for i in range(30)]
            found = await aio.Job.fetch(jobs[1].id, rq)  # the id names its queue
            assert found.queue == names[1]
            chosen = await rq.queue(names[0]).options(job_id="later", delay=60).enqueue("tasks:noop")
            assert await (await aio.Job.fetch("later", rq)).state() == "scheduled"
            assert await chosen.cancel() is True

    asyncio.run(main())
    assert Queue(names[0], conn).job("later").state == "cancelled"
