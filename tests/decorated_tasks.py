"""Jobs declared with @rqueues.task, for tests/integration/test_task_decorator.py."""

from __future__ import annotations

import asyncio
import os

import rqueues


@rqueues.task(queue="decorated", retries=2, backoff=0.01)
def scale(x: int, factor: int = 2) -> int:
    return x * factor


@rqueues.task(queue="decorated")
async def slow_upper(text: str) -> str:
    await asyncio.sleep(0.01)
    return text.upper()


@rqueues.task(queue="decorated", retries=2, backoff=0.01)
def flaky(key: str, url: str) -> int:
    """Fails on its first attempt, so the decorator's retries=2 is seen to apply."""
    import redis

    attempts = redis.Redis.from_url(url).incr(key)
    if attempts == 1:
        raise RuntimeError("first attempt fails")
    return int(attempts)


@rqueues.task(queue="decorated")
def whoami() -> int:
    return os.getpid()
