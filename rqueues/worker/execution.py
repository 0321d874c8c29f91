"""Running one claimed job: resolve, decode, call, and turn the outcome into data.

The one place that does it, for every executor: the thread executor calls
``run_job`` in its slot, a process-executor child calls it in the child, and the
asyncio executor calls ``run_job_async`` on the worker's event loop (which runs a
sync function through ``call`` in a thread).
"""

from __future__ import annotations

import functools
import inspect
import logging
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from .. import defaults
from ..codec import decode_envelope, encode_error, encode_result
from ..context import Flag, JobContext, _set_current
from ..errors import ConfigurationError, JobTimeout, PayloadTooLarge, SerializationError, UnknownFunction
from ..functions import FunctionRegistry
from ..options import stored_timeout
from ..retry import exception_names
from .coroutines import remaining, run_coroutine, supervise
from .hooks import with_middleware

#: How job code reports to its worker: ``report(kind, data)`` (see JobContext._report).
Report = Callable[[str, Any], None]

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
    default_timeout: float | None = None  # its queue's timeout, set when it is routed to an executor
    executor: str = ""  # the executor it was routed to (thread, process, asyncio); '' until then
    env: dict[str, str] = field(default_factory=dict)  # set in its child's environment (process executor)

    @property
    def timeout(self) -> float | None:
        """The job's own timeout, else its queue's."""
        own = self.own_timeout
        return own if own is not None else self.default_timeout

    def report_progress(self, fraction: float, message: str) -> None:
        """Keep the latest progress report (JobContext.progress; a child's message in the
        parent). Only remembered here: the heartbeat writes it, at most once a beat."""
        self.progress = (fraction, message, time.monotonic())

    @property
    def own_timeout(self) -> float | None:
        """The job's own timeout; one enqueue would have refused counts as none (logged once)."""
        if "timeout" not in self.options:  # most jobs: no lookup to cache
            return None
        if "_own_timeout" not in self.__dict__:
            try:
                found = stored_timeout(self.options)
            except ConfigurationError as exc:
                log.warning("job %s: ignoring a timeout option enqueue never writes: %s", self.job_id, exc)
                found = None
            self.__dict__["_own_timeout"] = found
        own: float | None = self.__dict__["_own_timeout"]
        return own


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


@dataclass
class Prepared:
    """A job's function and decoded arguments, ready to call."""

    fn: Callable[..., Any]
    args: tuple[Any, ...] | list[Any]
    kwargs: dict[str, Any]


def prepare(job: Claimed, functions: FunctionRegistry) -> Prepared | Outcome:
    """Decode the arguments and resolve the function; the Outcome when either cannot be."""
    try:
        args, kwargs, meta = decode_envelope(job.payload)
    except SerializationError as exc:
        return Outcome(job, "dead", reason=str(exc))
    try:
        fn = functions.resolve(job.function)
    except UnknownFunction as exc:
        return Outcome(job, "refused", failure(exc), str(exc), exception_names(exc), permanent=True)
    fn = with_middleware(fn, job, meta)  # the middleware's run hooks (hooks.py); fn itself if none
    return Prepared(fn, args, kwargs)


def run_job(
    job: Claimed,
    functions: FunctionRegistry,
    max_result_bytes: int = defaults.MAX_RESULT_BYTES,
    report: Report | None = None,
) -> Outcome:
    """Run a job in the calling thread. Never raises: every failure becomes an Outcome."""
    prepared = prepare(job, functions)
    if isinstance(prepared, Outcome):
        return prepared
    return call(job, prepared, max_result_bytes, report)


def call(
    job: Claimed,
    prepared: Prepared,
    max_result_bytes: int = defaults.MAX_RESULT_BYTES,
    report: Report | None = None,
) -> Outcome:
    """Call a prepared job in the calling thread; an ``async def`` job gets an event loop of its own."""
    _set_current(_context(job, report))
    try:
        result = prepared.fn(*prepared.args, **prepared.kwargs)
        if inspect.isawaitable(result):  # an async def job: run it here, never store a coroutine
            result = run_coroutine(result, job.cancel, remaining(job.started, job.timeout))
        _check_overrun(job)
    except BaseException as exc:  # a job's SystemExit must not take down its slot
        return _failed(job, exc)
    finally:
        _set_current(None)
    return _succeeded(job, result, max_result_bytes)


async def run_job_async(
    job: Claimed,
    functions: FunctionRegistry,
    in_thread: Callable[[Callable[[], Outcome]], Awaitable[Outcome]],
    max_result_bytes: int = defaults.MAX_RESULT_BYTES,
    report: Report | None = None,
) -> Outcome:
    """Run a job on the running event loop: an ``async def`` function as a task of this
    loop, cancelled by its timeout or its cancellation flag; any other function through
    ``in_thread`` (a thread of a pool), so that it never blocks the loop. Never raises."""
    prepared = prepare(job, functions)
    if isinstance(prepared, Outcome):
        return prepared
    if not inspect.iscoroutinefunction(prepared.fn):
        return await in_thread(functools.partial(call, job, prepared, max_result_bytes, report))
    _set_current(_context(job, report))  # this task's context only
    try:
        awaitable = prepared.fn(*prepared.args, **prepared.kwargs)
        result = await supervise(awaitable, job.cancel, remaining(job.started, job.timeout))
        _check_overrun(job)
    except BaseException as exc:  # CancelledError included: the task was cancelled for this job
        return _failed(job, exc)
    finally:
        _set_current(None)
    return _succeeded(job, result, max_result_bytes)


def _context(job: Claimed, report: Report | None) -> JobContext:
    ctx = JobContext(job.job_id, job.queue, job.function, job.attempts, job.cancel, job.gpus)
    if report is not None:
        ctx._report = report
    return ctx


def _check_overrun(job: Claimed) -> None:
    """A job that returned after its timeout still failed it (the thread executor cannot stop it)."""
    elapsed = time.monotonic() - job.started
    if job.timeout is not None and elapsed > job.timeout:
        raise JobTimeout(f"job ran {elapsed:.3f}s, past its timeout of {job.timeout:g}s")


def _failed(job: Claimed, exc: BaseException) -> Outcome:
    return Outcome(job, "failed", failure(exc), exception_names=exception_names(exc))


def _succeeded(job: Claimed, result: Any, max_result_bytes: int) -> Outcome:
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
