"""Celery with the Redis broker: one worker process (solo pool), results ignored."""

from __future__ import annotations

import os

from celery import Celery

from .. import tasks
from ..adapter import Adapter, Args, script

QUEUE = "bench"
PREFETCH = 64

# `celery -A bench.peers.celery worker` imports this module by name: the app is made
# at import, from the URL the benchmark puts in the environment.
app = Celery("bench", broker=os.environ[tasks.URL_ENV])
app.conf.update(
    task_ignore_result=True,
    task_default_queue=QUEUE,
    worker_prefetch_multiplier=PREFETCH,
    worker_disable_rate_limits=True,
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
)
TASKS = {
    name: app.task(fn, name=name)
    for name, fn in (("noop", tasks.noop), ("stamp", tasks.stamp), ("sleep", tasks.sleep))
}


class System(Adapter):
    name = "celery"
    concurrent = False
    package = "celery"
    fast_mode = (
        f"--pool solo (one process, one job at a time), task_ignore_result, prefetch multiplier {PREFETCH}, "
        "--without-gossip --without-mingle --without-heartbeat, rate limits off, early ack (the default)"
    )

    def enqueue(self, task: str, args: Args) -> None:
        TASKS[task].apply_async(args)

    def worker_argv(self, concurrency: int | None) -> list[str]:
        # The solo pool runs one job at a time: concurrency does not apply.
        return [
            script("celery"),
            "-A",
            "bench.peers.celery",
            "worker",
            "--pool",
            "solo",
            "-Q",
            QUEUE,
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--loglevel",
            "WARNING",
        ]

    def close(self) -> None:
        app.close()
