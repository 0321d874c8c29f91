"""Job bodies every benchmarked system runs. They need only redis-py, so the
peers' environment can import them too.

``stamp`` is the only body that talks to Redis: it pushes the wall-clock time
it started to a list, which the benchmark reads to time drains (one stamp
before and one after the no-op jobs) and enqueue-to-start latency.
"""

from __future__ import annotations

import os
import time
from typing import Any

import redis

URL_ENV = "BENCH_REDIS_URL"

_client: redis.Redis | None = None


def _redis() -> redis.Redis:
    global _client
    if _client is None:
        _client = redis.Redis.from_url(os.environ[URL_ENV])
    return _client


def noop(*args: Any, **kwargs: Any) -> None:
    """The no-op job; also takes the small-payload arguments."""
    return None


def stamp(key: str) -> None:
    """Record when this body started: the clock is read before anything else runs."""
    started = time.time()
    _redis().rpush(key, repr(started))


def sleep(seconds: float) -> None:
    time.sleep(seconds)


#: Arguments of a small-payload job: about 150 bytes once encoded.
SMALL_PAYLOAD: tuple[Any, ...] = ("x" * 100, 123456789, {"user": 42, "tags": ["a", "b"], "ok": True})
