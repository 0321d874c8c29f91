"""Dramatiq with its Redis broker: one worker process with threads."""

from __future__ import annotations

import os

import dramatiq
from dramatiq.brokers.redis import RedisBroker

from .. import tasks
from ..adapter import Adapter, Args, script, slots

QUEUE = "bench"
#: Most milliseconds an idle consumer sleeps between polls (the default is 1000).
POLL_MS = "5"

# The worker imports this module by name, so the broker is made at import, from the
# URL the benchmark puts in the environment.
broker = RedisBroker(url=os.environ[tasks.URL_ENV])
dramatiq.set_broker(broker)

ACTORS = {
    name: dramatiq.actor(fn, actor_name=name, queue_name=QUEUE, max_retries=0)
    for name, fn in (("noop", tasks.noop), ("stamp", tasks.stamp), ("sleep", tasks.sleep))
}


class System(Adapter):
    name = "dramatiq"
    package = "dramatiq"
    fast_mode = (
        "--processes 1 --threads N, no result backend, max_retries=0, "
        f"idle poll backoff capped at {POLL_MS} ms (dramatiq_worker_timeout; default 1000)"
    )

    def enqueue(self, task: str, args: Args) -> None:
        ACTORS[task].send(*args)

    def worker_env(self, concurrency: int | None) -> dict[str, str]:
        return {"dramatiq_worker_timeout": POLL_MS}

    def worker_argv(self, concurrency: int | None) -> list[str]:
        return [
            script("dramatiq"),
            "bench.peers.dramatiq",
            "--processes",
            "1",
            "--threads",
            str(slots(concurrency)),
            "--queues",
            QUEUE,
        ]

    def close(self) -> None:
        broker.close()
