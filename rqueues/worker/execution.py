"""Running one claimed job: resolve, decode, call, and turn the outcome into data."""

from __future__ import annotations

import functools
import inspect
import logging
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

from .. import defaults
from ..codec import decode_envelope, encode_error, encode_result
from ..context import Flag, JobContext, _set_current
from ..errors import ConfigurationError, JobTimeout, PayloadTooLarge, SerializationError, UnknownFunction
from ..functions import FunctionRegistry
from ..options import stored_timeout
from ..retry import exception_names
from .coroutines import run_coroutine
from .hooks import with_middleware

log = logging.getLogger("rqueues.worker")


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
    # What the job reports about itself; worker/progress.py writes it to the record.
    progress: tuple[float, str, float] | None = None  # latest (fraction, message, monotonic time)
    gpus: tuple[str, ...] = ()  # the devices worker/gpus.py gave it
    noted: tuple[object, tuple[str, ...]] = (None, ())  # the progress and gpus last written
    cancel: Flag = field(default_factory=Flag)
    stop_requested: bool = False  # `rqueues stop`: the outcome is 'cancelled'
    done: bool = False  # finished running; its outcome is on the way to Redis
    lost: bool = False  # the delivery is no longer this worker's: not renewed, its outcome discarded
    ran_for: float = 0.0  # seconds it ran, set when it finished

    def report_progress(self, fraction: float, message: str) -> None:
        """Keep the latest progress report (JobContext.progress; a child's message in the
        parent). Only remembered here: the heartbeat writes it, at most once a beat."""
        self.progress = (fraction, message, time.monotonic())

    @functools.cached_property
    def timeout(self) -> float | None:
        """The job's timeout; one enqueue would have refused counts as none (logged once)."""
        try:
            return stored_timeout(self.options)
        except ConfigurationError as exc:
            log.warning("job %s: ignoring a timeout option enqueue never writes: %s", self.job_id, exc)
            return None


@dataclass
class Outcome:
    """What to store for a finished job.

    state '' acknowledges without touching the record (a consumed tombstone);
    'dead' sends the entry to the dead letters with ``reason``; 'retry' schedules
    another attempt after ``delay_ms``; 'refused' means this worker cannot import
    the job's function (another worker may: see refusal.py). ``permanent`` marks a
    failure no retry can fix (settle.py does not retry it).
    """

    claimed: Claimed
    state: str
    blob: bytes = b""
    reason: str = ""
    exception_names: tuple[str, ...] = ()
    delay_ms: int = 0
    permanent: bool = False


def run_job(
    job: Claimed, functions: FunctionRegistry, max_result_bytes: int = defaults.MAX_RESULT_BYTES
) -> Outcome:
    """Run a job in the calling thread. Never raises: every failure becomes an Outcome."""
    try:
        args, kwargs, meta = decode_envelope(job.payload)
    except SerializationError as exc:
        return Outcome(job, "dead", reason=str(exc))
    try:
        fn = functions.resolve(job.function)
    except UnknownFunction as exc:
        return Outcome(job, "refused", failure(exc), str(exc), exception_names(exc), permanent=True)
    fn = with_middleware(fn, job, meta)  # the middleware's run hooks (hooks.py); fn itself if none
    ctx = JobContext(
        job.job_id, job.queue, job.function, job.attempts, job.cancel, job.gpus, job.report_progress
    )
    _set_current(ctx)
    try:
        result = fn(*args, **kwargs)
        if inspect.isawaitable(result):  # an async def job: run it here, never store a coroutine
            result = run_coroutine(result, job.cancel, job.timeout)
        elapsed = time.monotonic() - job.started
        if job.timeout is not None and elapsed > job.timeout:
            raise JobTimeout(f"job ran {elapsed:.3f}s, past its timeout of {job.timeout:g}s")
    except BaseException as exc:  # a job's SystemExit must not take down its slot
        return Outcome(job, "failed", failure(exc), exception_names=exception_names(exc))
    finally:
        _set_current(None)
    try:
        return Outcome(job, "succeeded", _result_blob(result, max_result_bytes))
    except SerializationError as exc:  # the same result would come back on every retry
        return Outcome(job, "failed", failure(exc), exception_names=exception_names(exc), permanent=True)


def _result_blob(result: Any, max_result_bytes: int) -> bytes:
    blob = encode_result(result)
    if len(blob) > max_result_bytes:
        raise PayloadTooLarge(
            f"the job's return value encodes to {len(blob)} bytes, more than the limit of "
            f"{max_result_bytes} bytes (connect(max_result_bytes=...)); store large results "
            "elsewhere and return a reference"
        )
    return blob


def failure(exc: BaseException) -> bytes:
    """The error record of ``exc``; never raises, even for an exception whose ``__str__`` does."""
    name = type(exc).__qualname__
    module = type(exc).__module__
    exc_type = name if module in ("builtins", None) else f"{module}.{name}"
    try:
        message = str(exc)
    except BaseException as inner:  # whatever __str__ raises, the job fails cleanly
        message = f"<str() of the {exc_type} raised {type(inner).__name__}: {_safe_repr(inner)}>"
    try:
        text = "".join(traceback.format_exception(exc))
    except BaseException:
        text = ""
    return encode_error(exc_type, message, text)


def _safe_repr(value: object) -> str:
    try:
        return repr(value)
    except BaseException:
        return object.__repr__(value)
