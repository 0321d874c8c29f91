"""Enqueue rates of the asyncio client (rqueues.aio) beside the blocking client's, in one run.

The same no-op jobs to the same declared queue, no worker running: one call at a time
(each call a round trip, awaited in turn from one task) and in batches of ``BATCH``
(enqueue_many, one round trip each). The clients alternate, so noise falls on both.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from .workload import Bench

BATCH = 1_000
QUEUE = "bench-aio"
FIELDS = {
    "sync_one_rate": ("jobs/s sync, one call at a time", "{:,.0f}"),
    "aio_one_rate": ("jobs/s asyncio, one call at a time", "{:,.0f}"),
    "sync_batch_rate": ("jobs/s sync, batched", "{:,.0f}"),
    "aio_batch_rate": ("jobs/s asyncio, batched", "{:,.0f}"),
}
SHOWN = ["aio_one_rate", "sync_batch_rate", "aio_batch_rate"]


def _sync_rate(url: str, one: int, batch: int) -> tuple[float, float]:
    from rqueues import Queue, connect

    conn = connect(url)
    q = Queue(QUEUE, conn)
    started = time.perf_counter()
    for _ in range(one):
        q.enqueue("bench.tasks:noop")
    one_rate = one / (time.perf_counter() - started)
    started = time.perf_counter()
    for i in range(0, batch, BATCH):
        q.enqueue_many([("bench.tasks:noop", (), {})] * min(BATCH, batch - i))
    batch_rate = batch / (time.perf_counter() - started)
    conn.close()
    return one_rate, batch_rate


async def _aio_rate(url: str, one: int, batch: int) -> tuple[float, float]:
    from rqueues import aio

    async with aio.connect(url) as rq:
        q = rq.queue(QUEUE)
        started = time.perf_counter()
        for _ in range(one):
            await q.enqueue("bench.tasks:noop")
        one_rate = one / (time.perf_counter() - started)
        started = time.perf_counter()
        for i in range(0, batch, BATCH):
            await q.enqueue_many([("bench.tasks:noop", (), {})] * min(BATCH, batch - i))
        batch_rate = batch / (time.perf_counter() - started)
    return one_rate, batch_rate


def aio_enqueue_rows(bench: Bench, one: int, batch: int) -> dict[str, Any]:
    """``sync_one_rate``/``aio_one_rate`` and ``sync_batch_rate``/``aio_batch_rate`` (jobs/s)."""
    from rqueues import Queue, connect

    conn = connect(bench.url)
    conn.redis.flushall()
    Queue(QUEUE, conn).declare()
    conn.close()
    sync_one, sync_batch = _sync_rate(bench.url, one, batch)
    aio_one, aio_batch = asyncio.run(_aio_rate(bench.url, one, batch))
    return {
        "sync_one_rate": sync_one,
        "aio_one_rate": aio_one,
        "sync_batch_rate": sync_batch,
        "aio_batch_rate": aio_batch,
    }
