"""``async def`` versions of bench/tasks.py's bodies, for the asyncio executor's figures."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from .tasks import _redis


async def noop(*args: Any, **kwargs: Any) -> None:
    return None


async def stamp(key: str) -> None:
    started = time.time()
    _redis().rpush(key, repr(started))  # one short blocking call, as in the sync body


async def sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)
