"""What a running job can learn about itself: rqueues.current_job()."""

from __future__ import annotations

import math
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from .defaults import MAX_PROGRESS_MESSAGE

# A context variable, not a thread-local: the asyncio executor runs many jobs on one
# thread, each task in a context of its own; a thread's context is its own too.
_current: ContextVar[JobContext | None] = ContextVar("rqueues_current_job", default=None)


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
    #: The GPU devices given to this job (ids as in CUDA_VISIBLE_DEVICES); empty for a queue
    #: declared without gpus_per_job. A thread cannot have an environment of its own: pass
    #: them to the library (e.g. ``torch.device(f"cuda:{...}")``) or to a subprocess; a
    #: process-executor child has them in CUDA_VISIBLE_DEVICES too.
    gpus: tuple[str, ...] = ()
    #: Sends a message about the job to its worker: ``_report(kind, data)``, ``data``
    #: msgpack-able. The executor installs it (a child process sends it over its pipe);
    #: the worker passes it to the handler of ``kind`` (Worker.message_handlers).
    _report: Callable[[str, Any], None] = field(default=lambda kind, data: None, repr=False)

    @property
    def cancelled(self) -> bool:
        """True once the job was asked to stop (timeout, stop request, hard shutdown)."""
        return self._cancel.is_set()

    def progress(self, fraction: float, message: str = "") -> None:
        """Report how far the job got: ``fraction`` from 0 to 1, and a short message.

        Costs no round trip: only the latest report is kept in memory (a child process
        sends it to its worker), and the worker writes it to the job's record about once
        a second and when the job ends (``Job.progress``, ``rqueues job ID``, ``rqueues
        jobs``). A message longer than MAX_PROGRESS_MESSAGE characters is cut.
        """
        fraction, message = check_progress(fraction, message)
        self._report("progress", [fraction, message])


def check_progress(fraction: object, message: object = "") -> tuple[float, str]:
    """A progress report as stored: TypeError or ValueError names what is wrong with it."""
    if not isinstance(fraction, (int, float)) or isinstance(fraction, bool):
        raise TypeError(f"progress fraction must be a number from 0 to 1, got {fraction!r}")
    if not math.isfinite(fraction) or not 0 <= fraction <= 1:
        raise ValueError(f"progress fraction must be from 0 to 1 (0.5 is half done), got {fraction!r}")
    if not isinstance(message, str):
        raise TypeError(f"progress message must be a string, got {type(message).__name__}")
    if len(message) > MAX_PROGRESS_MESSAGE:
        message = message[: MAX_PROGRESS_MESSAGE - 1] + "\u2026"
    return float(fraction), message


def current_job() -> JobContext | None:
    """The job running in this thread, or None outside a job."""
    return _current.get()


def _set_current(ctx: JobContext | None) -> None:
    _current.set(ctx)
