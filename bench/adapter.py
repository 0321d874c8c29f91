"""What the workload needs from a job system; one small subclass per system.

Adapters run in whichever environment has their library (rqueues in .venv,
the peers in .venv-peers), so this module needs nothing but the standard
library.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Sequence
from importlib import metadata
from typing import Any

Args = tuple[Any, ...]

#: Jobs per batched enqueue call.
BATCH = 1000
#: Slots a peer's worker gets when a step asks for "the system's default" (concurrency None).
PEER_SLOTS = 8


class Adapter:
    """One job system as the benchmark drives it.

    Tasks are named: ``noop`` (also given the small-payload arguments),
    ``stamp`` (records its start time) and ``sleep``.
    """

    name = "?"
    package = "?"
    #: The settings that make this system fast, printed next to its figures.
    fast_mode = ""
    #: How the system enqueues a batch, or None when it has no batched enqueue.
    batch_mode: str | None = None
    #: False for systems that run one job at a time per process (concurrency does not apply).
    concurrent = True

    def __init__(self, url: str) -> None:
        self.url = url

    def version(self) -> str:
        return metadata.version(self.package)

    def prepare(self, cap: int = 0) -> None:
        """Called after FLUSHALL: declare whatever the system needs (cap > 0: a capped queue)."""

    def enqueue(self, task: str, args: Args) -> None:
        raise NotImplementedError

    def enqueue_many(self, task: str, args: Sequence[Args]) -> None:
        """Enqueue one batch (at most BATCH jobs); only when batch_mode is set."""
        raise NotImplementedError

    def worker_argv(self, concurrency: int | None) -> list[str]:
        """Command that runs one worker process until SIGTERM.

        ``concurrency`` None: the worker as its system starts it without tuning flags
        (a peer gets PEER_SLOTS, its best single-process mode).
        """
        raise NotImplementedError

    def worker_env(self, concurrency: int | None) -> dict[str, str]:
        """Environment the worker process needs beyond BENCH_REDIS_URL."""
        return {}

    def settled(self, deadline: float) -> float | None:
        """Epoch time the last outcome was stored, for systems that store it after the job body."""
        return None

    def close(self) -> None:
        """Release clients."""


def slots(concurrency: int | None) -> int:
    """A peer's slot count for ``concurrency`` (None: PEER_SLOTS)."""
    return PEER_SLOTS if concurrency is None else concurrency


def script(name: str) -> str:
    """A console script of the running environment (the peers' venv for a peer)."""
    here = os.path.join(os.path.dirname(sys.executable), name)
    return here if os.path.exists(here) else (shutil.which(name) or name)
