"""Job functions the tests enqueue; workers import this module with --import tasks."""

from __future__ import annotations

import asyncio
import os
import threading
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


# -- chaos tests: each run logs "start|end JOB TIMESTAMP PID ATTEMPT" ----------------------


def _run_line(event: str) -> str:
    job = rqueues.current_job()
    job_id, attempt = (job.id, job.attempts) if job else ("?", 0)
    return f"{event} {job_id} {time.time():.6f} {os.getpid()} {attempt}"


def chaos_record(url: str, log_key: str, seconds: float) -> str:
    """record() that also logs the attempt, which the chaos tests check against the job's reclaims."""
    r = redis.Redis.from_url(url)
    r.rpush(log_key, _run_line("start"))
    time.sleep(seconds)
    r.rpush(log_key, _run_line("end"))
    r.close()
    job = rqueues.current_job()
    return job.id if job else "?"


def chaos_record_attempts(url: str, log_key: str, first: float, later: float) -> str:
    """chaos_record for ``first`` seconds on the first attempt and ``later`` on the others: a
    test that stops the first worker is sure the job is still running when it does."""
    job = rqueues.current_job()
    return chaos_record(url, log_key, first if job is None or job.attempts <= 1 else later)


def _append_line(path: str, line: str) -> None:
    # One O_APPEND write per line: lines from concurrent processes never interleave.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def chaos_record_file(path: str, seconds: float) -> str:
    """chaos_record into a file: the record must not depend on a Redis the test kills."""
    _append_line(path, _run_line("start"))
    time.sleep(seconds)
    _append_line(path, _run_line("end"))
    job = rqueues.current_job()
    return job.id if job else "?"


def chaos_cooperative_file(path: str, first: float, later: float) -> str:
    """chaos_record_file for a job that checks its cancellation flag: the first attempt runs up to
    ``first`` seconds, later ones ``later``. A run that sees the flag ends at once and appends
    ``JOB PID ATTEMPT`` to ``path + '.cancelled'``. Returns ``PID:ATTEMPT``: whose outcome stood."""
    _append_line(path, _run_line("start"))
    job = rqueues.current_job()
    attempt = job.attempts if job else 0
    deadline = time.monotonic() + (first if attempt <= 1 else later)
    while time.monotonic() < deadline:
        if job is not None and job.cancelled:
            _append_line(path + ".cancelled", f"{job.id} {os.getpid()} {attempt}")
            break
        time.sleep(0.02)
    _append_line(path, _run_line("end"))
    return f"{os.getpid()}:{attempt}"


def kill_own_worker(url: str, log_key: str) -> None:
    """A poison job: logs its start, then kills the worker process running it, every time."""
    r = redis.Redis.from_url(url)
    r.rpush(log_key, _run_line("start"))
    r.close()
    import signal

    os.kill(os.getpid(), signal.SIGKILL)


# -- failures, retries and hand-backs (tests/integration/test_retries.py, test_shutdown_handback.py) --


class RetryableError(Exception):
    """A base class a queue's retry_on can name."""


class TransientError(RetryableError):
    pass


def raise_error(kind: str) -> None:
    """Raise TransientError (a RetryableError) for 'transient', ValueError otherwise."""
    if kind == "transient":
        raise TransientError("try again")
    raise ValueError(f"bad input {kind!r}")


def fail_attempt(url: str | None = None, log_key: str | None = None) -> None:
    """Fail with the attempt number in the message; with ``log_key``, first log the Redis time (ms)."""
    job = rqueues.current_job()
    attempt = job.attempts if job else 0
    if url and log_key:
        r = redis.Redis.from_url(url)
        secs, micros = r.time()
        r.rpush(log_key, f"{attempt} {secs * 1000 + micros // 1000}")
        r.close()
    raise ValueError(f"attempt {attempt}")


def fail_first() -> int:
    """Fail on the first attempt, succeed on any later one."""
    job = rqueues.current_job()
    attempt = job.attempts if job else 0
    if attempt <= 1:
        raise ValueError("first attempt fails")
    return attempt


def hold_first_attempt(url: str, log_key: str, gate_key: str, limit: float = 30.0) -> int:
    """The first attempt blocks (ignoring its cancel flag) until a token is pushed to ``gate_key``;
    later attempts return at once. Each attempt logs 'start N' and 'end N' to ``log_key``."""
    r = redis.Redis.from_url(url)
    job = rqueues.current_job()
    attempt = job.attempts if job else 0
    r.rpush(log_key, f"start {attempt}")
    try:
        if attempt == 1 and r.blpop([gate_key], timeout=limit) is None:
            raise TimeoutError(f"gate {gate_key!r} stayed closed for {limit}s")
    finally:
        r.rpush(log_key, f"end {attempt}")
        r.close()
    return attempt


# Events a test sets to release a job; only for workers on a thread of the test's own process.
EVENTS: dict[str, threading.Event] = {}


def wait_for_event(name: str, limit: float = 30.0) -> str:
    """Block until the test sets ``tasks.EVENTS[name]``: it decides when the job ends, without Redis."""
    if not EVENTS.setdefault(name, threading.Event()).wait(limit):
        raise TimeoutError(f"event {name!r} not set within {limit}s")
    return name


def fail_on_event(name: str, limit: float = 30.0) -> None:
    """wait_for_event, then raise ValueError: a failure the test times."""
    wait_for_event(name, limit)
    raise ValueError(f"failed after {name!r}")


def spin(seconds: float) -> int:
    """Pure-Python CPU work for ``seconds``: holds the GIL as much as the interpreter lets it."""
    deadline = time.monotonic() + seconds
    n = 0
    while time.monotonic() < deadline:
        n += sum(i * i for i in range(1000))
    return n


# -- poison input (tests/integration/test_outcome_path.py, tests/unit/test_settle.py) --


class UnprintableError(Exception):
    """An exception whose __str__ raises: its job must still fail cleanly."""

    def __str__(self) -> str:
        raise RuntimeError("cannot print me")


def raise_unprintable() -> None:
    raise UnprintableError()


def big_result(size: int) -> bytes:
    return b"x" * size


async def async_add(a: int, b: int) -> int:
    """An async def job: awaited in its slot, its result stored like any other."""
    await asyncio.sleep(0.01)
    return a + b


async def async_fail(message: str) -> None:
    await asyncio.sleep(0)
    raise ValueError(message)


async def async_sleep(seconds: float) -> float:
    await asyncio.sleep(seconds)
    return seconds


async def async_gated(url: str, log_key: str, limit: float = 30.0) -> str:
    """Records that it started, then waits (asynchronously) until cancelled or ``limit``."""
    redis.Redis.from_url(url).rpush(log_key, "started")
    await asyncio.sleep(limit)
    return "not cancelled"


# -- executors -------------------------------------------------------------------


def whoami(env_name: str = "") -> dict[str, Any]:
    """The process and thread that ran the job, and one variable of its environment."""
    return {
        "pid": os.getpid(),
        "thread": threading.current_thread().name,
        "env": os.environ.get(env_name) if env_name else None,
    }


def logged_sleep(path: str, seconds: float) -> int:
    """Appends ``start``/``end`` lines (job id, time, pid, attempt) to ``path`` around a sleep."""
    _append_line(path, _run_line("start"))
    time.sleep(seconds)
    _append_line(path, _run_line("end"))
    return os.getpid()


def hog(total_mb: int, step_mb: int = 10, pause: float = 0.05) -> int:
    """Allocates up to ``total_mb`` MB in steps (bounded), touching every page; returns the MB held."""
    held = []
    for _ in range(total_mb // step_mb):
        held.append(bytearray(step_mb * 1024 * 1024))  # zero-filled: resident
        time.sleep(pause)
    return len(held) * step_mb


def hold_gil(seconds: float) -> int:
    """Holds the GIL for about ``seconds`` in one C call (builtin sum over a range never lets
    another thread of this process run): calibrated first on a short run."""
    t0 = time.perf_counter()
    sum(range(2_000_000))
    rate = 2_000_000 / max(time.perf_counter() - t0, 1e-6)
    return sum(range(int(rate * seconds))) and os.getpid()


def report_messages(count: int) -> int:
    """Sends ``count`` 'progress' messages to its worker through the job context."""
    job = rqueues.current_job()
    assert job is not None
    for i in range(count):
        job._report("progress", {"done": i + 1, "of": count})
    return os.getpid()


def wait_until_cancelled(limit: float) -> str:
    """Polls its cancellation flag for up to ``limit`` seconds (a cooperative thread job)."""
    job = rqueues.current_job()
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if job is not None and job.cancelled:
            return "saw the flag"
        time.sleep(0.02)
    return "ran out"


async def async_logged_sleep(path: str, seconds: float) -> float:
    """async def logged_sleep: start/end lines around an asyncio.sleep."""
    _append_line(path, _run_line("start"))
    await asyncio.sleep(seconds)
    _append_line(path, _run_line("end"))
    return seconds


async def async_whoami() -> dict[str, Any]:
    job = rqueues.current_job()
    await asyncio.sleep(0.01)
    return {"pid": os.getpid(), "thread": threading.current_thread().name, "job": job.id if job else None}
