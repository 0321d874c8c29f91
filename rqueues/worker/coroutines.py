"""Running an ``async def`` job to completion in the slot that took it.

Whatever executor a queue has, an ``async def`` job runs, and is never stored as a
coroutine: the thread executor gives it an event loop of its own (``asyncio.run``)
for the length of the job. A stop, a hard shutdown or a lost delivery (the job's
cancellation flag) cancels the task; the job's timeout cancels it too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from ..context import Flag
from ..errors import JobTimeout


def run_coroutine(awaitable: Awaitable[Any], cancel: Flag, timeout: float | None) -> Any:
    """The result of ``awaitable``, run on a new event loop in the calling thread."""
    return asyncio.run(_supervised(awaitable, cancel, timeout))


async def _supervised(awaitable: Awaitable[Any], cancel: Flag, timeout: float | None) -> Any:
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
