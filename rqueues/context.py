"""What a running job can learn about itself: rqueues.current_job()."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

_local = threading.local()


class Flag:
    """A flag set once by the worker and read by the job: cheaper than a threading.Event,
    which a worker would otherwise create for every job. ``on_set`` registers a callback
    run (on the setting thread) when it is set, for jobs that cannot poll it (async)."""

    __slots__ = ("_callbacks", "_set")

    def __init__(self) -> None:
        self._set = False
        self._callbacks: list[Callable[[], object]] | None = None

    def set(self) -> None:
        self._set = True
        for callback in self._callbacks or ():
            callback()

    def is_set(self) -> bool:
        return self._set

    def on_set(self, callback: Callable[[], object]) -> None:
        """Call ``callback`` when the flag is set (at once if it already is)."""
        if self._callbacks is None:
            self._callbacks = []
        self._callbacks.append(callback)
        if self._set:
            callback()


@dataclass
class JobContext:
    """The job the calling thread is running."""

    id: str
    queue: str
    function: str
    attempts: int
    _cancel: Flag = field(default_factory=Flag, repr=False)

    @property
    def cancelled(self) -> bool:
        """True once the job was asked to stop (timeout, stop request, hard shutdown)."""
        return self._cancel.is_set()


def current_job() -> JobContext | None:
    """The job running in this thread, or None outside a job."""
    return getattr(_local, "job", None)


def _set_current(ctx: JobContext | None) -> None:
    _local.job = ctx
