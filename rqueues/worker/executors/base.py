"""What every executor offers the worker, and the callbacks it reports through.

An executor runs claimed jobs and reports each outcome through ``on_done`` (the
worker's Finisher: settle, acker, free the slot), exactly once per job it was
given, unless the worker abandoned the job at shutdown (``abandon``). While a job
runs, its code may send messages to the worker with ``JobContext._report(kind,
data)``; the executor passes each to ``on_message(claimed, kind, data)`` on a
thread of the worker (for a process-executor job: the thread that waits on its
child). ``data`` must be msgpack-able: it crosses the child's pipe as msgpack.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from ...config import QueueConfig
from ..execution import Claimed, Outcome

OnDone = Callable[[Outcome], None]
OnMessage = Callable[[Claimed, str, Any], None]


class Executor(Protocol):
    def start(self) -> None:
        """Get ready to take jobs (an executor may start its threads or children lazily)."""

    def submit(self, job: Claimed, config: QueueConfig | None = None) -> None:
        """Run ``job`` (``config``: its queue's, read at claim time) and report its outcome."""

    def abandon(self) -> None:
        """The worker is about to hand its running jobs back: stop them now, report nothing."""

    def stop(self, timeout: float | None = None) -> None:
        """Let submitted jobs finish (up to ``timeout``), then release threads and children."""
