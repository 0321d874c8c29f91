"""Running an ``async def`` job: supervised by its cancellation flag and its timeout.

Whatever executor a queue has, an ``async def`` job runs, and is never stored as a
coroutine: the asyncio executor runs it as a task of the worker's event loop; the
thread executor, and a process-executor child, give it an event loop of its own
(``asyncio.run``) for the length of the job. A stop, a hard shutdown or a lost
delivery (the job's cancellation flag) cancels the task; the job's timeout cancels it too.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import Any

from ..context import Flag
from ..errors import JobTimeout


def run_coroutine(awaitable: Awaitable[Any], cancel: Flag, timeout: float | None) -> Any:
    """The result of ``awaitable``, run on a new event loop in the calling thread."""
    return asyncio.run(supervise(awaitable, cancel, timeout))


def remaining(started: float, timeout: float | None) -> float | None:
    """Seconds left of ``timeout`` for a job that started at ``started`` (monotonic)."""
    return None if timeout is None else max(0.0, timeout - (time.monotonic() - started))


async def supervise(awaitable: Awaitable[Any], cancel: Flag, timeout: float | None) -> Any:
    """Await ``awaitable`` as a task that ``cancel`` cancels, and that fails with
    JobTimeout ``timeout`` seconds from now (None: never)."""
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(awaitable)

    def cancel_task() -> None:  # runs on the thread that sets the flag (the heartbeat)
        try:
            loop.call_soon_threadsafe(task.cancel)
        except RuntimeError:  # the loop has closed: the job already ended
            pass

    cancel.on_set(cancel_task)
    try:
        return await asyncio.wait_for(task, timeout)
    except asyncio.TimeoutError:
        raise JobTimeout(f"async job cancelled at its timeout of {timeout:g}s") from None
