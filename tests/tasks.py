"""Job functions the tests enqueue; workers import this module with --import tasks."""

from __future__ import annotations

import os
import time
from typing import Any

import redis

import rqueues


def add(a: int, b: int) -> int:
    return a + b


def noop() -> None:
    return None


def echo(*args: Any, **kwargs: Any) -> dict[str, Any]:
    return {"args": list(args), "kwargs": kwargs}


def fail(message: str = "boom") -> None:
    raise ValueError(message)


def sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def unserializable_result() -> object:
    return {1, 2, 3}


def record(url: str, log_key: str, seconds: float) -> str:
    """Append start/end with timestamps to a Redis list: an independent record of what ran."""
    r = redis.Redis.from_url(url)
    job = rqueues.current_job()
    job_id = job.id if job else "?"
    who = f"{os.getpid()}"
    r.rpush(log_key, f"start {job_id} {time.time():.6f} {who}")
    time.sleep(seconds)
    r.rpush(log_key, f"end {job_id} {time.time():.6f} {who}")
    r.close()
    return job_id


def wait_for_cancel(limit: float) -> str:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        job = rqueues.current_job()
        if job is not None and job.cancelled:
            return "cancelled"
        time.sleep(0.01)
    return "not cancelled"


def gated(url: str, log_key: str, gate_key: str, limit: float = 30.0) -> str:
    """Like record, but ends only when the test pushes a token to ``gate_key``: the test decides when."""
    r = redis.Redis.from_url(url)
    job = rqueues.current_job()
    job_id = job.id if job else "?"
    r.rpush(log_key, f"start {job_id} {time.time():.6f} {os.getpid()}")
    try:
        if r.blpop([gate_key], timeout=limit) is None:
            raise TimeoutError(f"gate {gate_key!r} stayed closed for {limit}s")
    finally:
        r.rpush(log_key, f"end {job_id} {time.time():.6f} {os.getpid()}")
        r.close()
    return job_id
