"""rqueues for asyncio code: the same names as the blocking API, awaited.

    async with rqueues.aio.connect("redis://localhost:6379/0") as rq:
        q = rq.queue("heavy")
        job = await q.enqueue(resize, "img.png", width=200)
        print(await job.wait(timeout=30))

Built on redis.asyncio; it shares the codec, the options, the key names, the Lua
scripts and the client logic (written once as steps) with the blocking client.
"""

from .connection import Connection, connect
from .job import Job
from .listing import list_jobs
from .queue import BoundQueue, Queue
from .store import Store

__all__ = ["BoundQueue", "Connection", "Job", "Queue", "Store", "connect", "list_jobs"]
