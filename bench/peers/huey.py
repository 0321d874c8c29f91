"""Huey with Redis storage: one consumer process with worker threads."""

from __future__ import annotations

import os

from huey import RedisHuey

from .. import tasks
from ..adapter import Adapter, Args, script, slots

# huey_consumer imports this module by name: the Huey instance is made at import,
# from the URL the benchmark puts in the environment.
huey = RedisHuey("bench", url=os.environ[tasks.URL_ENV], results=False, blocking=True)
TASKS = {
    name: huey.task(name=name, retries=0)(fn)
    for name, fn in (("noop", tasks.noop), ("stamp", tasks.stamp), ("sleep", tasks.sleep))
}


class System(Adapter):
    name = "huey"
    package = "huey"
    fast_mode = "one consumer, -k thread -w N, results=False, blocking dequeue (BRPOP), periodic tasks off"

    def enqueue(self, task: str, args: Args) -> None:
        TASKS[task](*args)

    def worker_argv(self, concurrency: int | None) -> list[str]:
        return [
            script("huey_consumer"),
            "bench.peers.huey.huey",
            "-k",
            "thread",
            "-w",
            str(slots(concurrency)),
            "-n",
            "-q",
        ]
