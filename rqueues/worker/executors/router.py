"""Routing each claimed job to the executor its queue declares, read at claim time.

One worker serves queues of every executor at once; the worker's slots (its
``--concurrency``) count the jobs of all of them together. A queue declared again
with another executor takes effect for the jobs claimed after the worker's next
config refresh; jobs already running finish where they are.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from ... import defaults
from ...config import QueueConfig
from ..execution import Claimed
from .base import Executor

log = logging.getLogger("rqueues.worker")


class Router:
    """The dispatcher's executor: hands each job to ``executors[its queue's executor]``."""

    def __init__(
        self, configs: Callable[[], Mapping[str, QueueConfig]], executors: Mapping[str, Executor]
    ) -> None:
        self._configs = configs
        self.executors = dict(executors)

    def start(self) -> None:
        for executor in self.executors.values():
            executor.start()

    def submit(self, job: Claimed, config: QueueConfig | None = None) -> None:
        config = config or self._configs().get(job.queue)
        kind = config.executor if config is not None else defaults.EXECUTOR
        if config is not None:
            job.default_timeout = config.timeout
        if kind not in self.executors:
            kind = defaults.EXECUTOR
        job.executor = kind  # for the metrics: busy slots and timeouts per executor
        self.executors[kind].submit(job, config)

    def lend(self, fn: Callable[[], None]) -> bool:
        """The thread executor's ``lend`` (thread.py); False without one."""
        threads = self.executors.get("thread")
        lend = getattr(threads, "lend", None)
        return bool(lend is not None and lend(fn))

    def abandon(self) -> None:
        for executor in self.executors.values():
            executor.abandon()

    def stop(self, timeout: float | None = None) -> None:
        for executor in self.executors.values():
            executor.stop(timeout)
