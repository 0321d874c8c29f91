"""Running the middleware's run hooks around a job's function, wherever the job runs.

``with_middleware`` wraps the resolved function: in the thread that runs a sync job,
inside the task of an ``async def`` job, and in a child process that runs jobs, which
installs the same middleware (rqueues/middleware.py) and calls the same run_job.
Without middleware it returns the function itself: a run costs one tuple check.
"""

from __future__ import annotations

import functools
import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from ..codec import decode_envelope, decode_error
from ..errors import ConfigurationError, JobFailed, JobTimeout
from ..middleware import Middleware, RunContext, RunOutcome, installed

log = logging.getLogger("rqueues.middleware")


class Claimed(Protocol):
    """What the hooks read of execution.Claimed (which imports this module)."""

    @property
    def job_id(self) -> str: ...
    @property
    def queue(self) -> str: ...
    @property
    def function(self) -> str: ...
    @property
    def attempts(self) -> int: ...
    @property
    def options(self) -> dict[str, Any]: ...
    @property
    def payload(self) -> bytes: ...
    @property
    def started(self) -> float: ...
    @property
    def timeout(self) -> float | None: ...


class Outcome(Protocol):
    """What notify_retry reads of execution.Outcome."""

    @property
    def claimed(self) -> Claimed: ...
    @property
    def state(self) -> str: ...
    @property
    def blob(self) -> bytes: ...
    @property
    def delay_ms(self) -> int: ...


def with_middleware(fn: Callable[..., Any], job: Claimed, meta: dict[str, str]) -> Callable[..., Any]:
    """``fn`` with every installed middleware's before_run, on_failure and after_run around it."""
    try:
        chain = installed()
    except ConfigurationError as exc:  # $RQUEUES_MIDDLEWARE names something this process cannot load
        return _raising(exc)
    if not chain:
        return fn
    ctx = RunContext(job.job_id, job.queue, job.function, job.attempts, meta, job.options)
    if inspect.iscoroutinefunction(fn):  # hooks run inside the job's task, in its context

        @functools.wraps(fn)
        async def run_async(*args: Any, **kwargs: Any) -> Any:
            entered = _before(chain, ctx)
            try:
                result = await fn(*args, **kwargs)
                _check_timeout(job)
            except BaseException as exc:
                _failed(entered, ctx, exc)
                raise
            _succeeded(entered, ctx, result)
            return result

        return run_async

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        entered = _before(chain, ctx)
        try:
            result = fn(*args, **kwargs)
            if inspect.isawaitable(result):  # a plain function that returned an awaitable
                return _finish(result, entered, ctx, job)
            _check_timeout(job)
        except BaseException as exc:
            _failed(entered, ctx, exc)
            raise
        _succeeded(entered, ctx, result)
        return result

    return run


async def _finish(awaitable: Awaitable[Any], entered: list[Middleware], ctx: RunContext, job: Claimed) -> Any:
    try:
        result = await awaitable
        _check_timeout(job)
    except BaseException as exc:
        _failed(entered, ctx, exc)
        raise
    _succeeded(entered, ctx, result)
    return result


def _check_timeout(job: Claimed) -> None:
    """The check run_job makes once the function returned, made here first so that the
    hooks see the failure run_job will store."""
    elapsed = time.monotonic() - job.started
    if job.timeout is not None and elapsed > job.timeout:
        raise JobTimeout(f"job ran {elapsed:.3f}s, past its timeout of {job.timeout:g}s")


def _before(chain: tuple[Middleware, ...], ctx: RunContext) -> list[Middleware]:
    """Run before_run in order; the middleware entered. One that raises fails the run: those
    entered before it get on_failure and after_run, as nested ``with`` blocks would."""
    entered: list[Middleware] = []
    for m in chain:
        try:
            m.before_run(ctx)
        except BaseException as exc:
            log.warning("middleware %r refused job %s in before_run: %r", m, ctx.job_id, exc)
            _failed(entered, ctx, exc)
            raise
        entered.append(m)
    return entered


def _failed(entered: list[Middleware], ctx: RunContext, exc: BaseException) -> None:
    outcome = RunOutcome("failed", error=exc)
    for m in reversed(entered):
        _call(m, "on_failure", ctx, m.on_failure, ctx, exc)
        _call(m, "after_run", ctx, m.after_run, ctx, outcome)


def _succeeded(entered: list[Middleware], ctx: RunContext, result: Any) -> None:
    outcome = RunOutcome("succeeded", result=result)
    for m in reversed(entered):
        _call(m, "after_run", ctx, m.after_run, ctx, outcome)


def _call(m: Middleware, hook: str, ctx: RunContext, method: Callable[..., None], *args: Any) -> None:
    try:
        method(*args)
    except Exception:  # the run has ended: its outcome stands
        log.exception("middleware %r failed in %s of job %s", m, hook, ctx.job_id)


def _raising(exc: ConfigurationError) -> Callable[..., Any]:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise exc

    return refuse


def notify_retry(outcome: Outcome) -> None:
    """Every on_retry hook, in reverse order, for an outcome settled as a retry; never raises.
    Runs in the worker process, which holds the outcome; the payload is decoded again only
    when some middleware is installed."""
    if outcome.state != "retry":
        return
    try:
        chain = installed()
        if not chain:
            return
        job = outcome.claimed
        try:
            meta = decode_envelope(job.payload)[2]
        except Exception:  # it ran, so it decoded; a bad blob must not cost the retry
            meta = {}
        ctx = RunContext(job.job_id, job.queue, job.function, job.attempts, meta, job.options)
        err = decode_error(outcome.blob)
        error = JobFailed(job.job_id, err.get("type", ""), err.get("message", ""), err.get("traceback", ""))
    except Exception:
        log.exception("could not run the on_retry hooks of job %s", outcome.claimed.job_id)
        return
    for m in reversed(chain):
        _call(m, "on_retry", ctx, m.on_retry, ctx, error, outcome.delay_ms / 1000)
