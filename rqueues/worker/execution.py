"""Running one claimed job: resolve, decode, call, and turn the outcome into data."""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass, field
from typing import Any

from ..codec import decode_call, encode_error, encode_result
from ..context import Flag, JobContext, _set_current
from ..errors import JobTimeout, SerializationError
from ..functions import FunctionRegistry
from ..retry import exception_names


@dataclass
class Claimed:
    """A job this worker holds a lease for."""

    queue: str
    entry: str
    job_id: str
    function: str
    payload: bytes
    attempts: int
    options: dict[str, Any]
    result_ttl: int
    enqueued_at: float | None = None  # epoch seconds, from the record
    started: float = field(default_factory=time.monotonic)
    cancel: Flag = field(default_factory=Flag)
    stop_requested: bool = False  # `rqueues stop`: the outcome is 'cancelled'
    done: bool = False  # finished running; its outcome is on the way to Redis
    lost: bool = False  # the delivery is no longer this worker's: not renewed, its outcome discarded

    @property
    def timeout(self) -> float | None:
        value = self.options.get("timeout")
        return float(value) if value else None


@dataclass
class Outcome:
    """What to store for a finished job.

    state '' acknowledges without touching the record (a consumed tombstone);
    'dead' sends the entry to the dead letters with ``reason``; 'retry' schedules
    another attempt after ``delay_ms``.
    """

    claimed: Claimed
    state: str
    blob: bytes = b""
    reason: str = ""
    exception_names: tuple[str, ...] = ()
    delay_ms: int = 0


def run_job(job: Claimed, functions: FunctionRegistry) -> Outcome:
    """Run a job in the calling thread. Never raises: every failure becomes an Outcome."""
    try:
        args, kwargs = decode_call(job.payload)
    except SerializationError as exc:
        return Outcome(job, "dead", reason=str(exc))
    ctx = JobContext(job.job_id, job.queue, job.function, job.attempts, job.cancel)
    _set_current(ctx)
    try:
        fn = functions.resolve(job.function)
        result = fn(*args, **kwargs)
        elapsed = time.monotonic() - job.started
        if job.timeout is not None and elapsed > job.timeout:
            raise JobTimeout(f"job ran {elapsed:.3f}s, past its timeout of {job.timeout:g}s")
        return Outcome(job, "succeeded", encode_result(result))
    except BaseException as exc:  # a job's SystemExit must not take down its slot
        return Outcome(job, "failed", failure(exc), exception_names=exception_names(exc))
    finally:
        _set_current(None)


def failure(exc: BaseException) -> bytes:
    name = type(exc).__qualname__
    module = type(exc).__module__
    exc_type = name if module in ("builtins", None) else f"{module}.{name}"
    return encode_error(exc_type, str(exc), "".join(traceback.format_exception(exc)))
