"""How a finished run settles: a pure function from what happened to what to store."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable

from .. import defaults
from ..backend.scripts import STOPPED
from ..retry import RetryPolicy
from .execution import Claimed, Outcome, failure

__all__ = ["STOPPED", "settle"]


def settle(outcome: Outcome, policy: RetryPolicy, rand: Callable[[], float] = random.random) -> Outcome:
    """The outcome to store for a run that ended with ``outcome``.

    A stop that was requested wins over success or failure (the job is
    'cancelled'; complete.lua applies the same rule to a stop the worker had not
    seen yet); a failure is retried after the policy's delay while attempts
    remain and the exception qualifies, unless it is permanent (the same error
    would come back on every retry: see run_job); else it is final.
    """
    job = outcome.claimed
    if job.stop_requested and outcome.state in ("succeeded", "failed", "refused"):
        return Outcome(job, "cancelled", STOPPED)
    if outcome.state != "failed" or outcome.permanent:
        return outcome
    if policy.retries_after(job.attempts, outcome.exception_names):
        seconds = min(policy.delay(job.attempts, rand), defaults.MAX_BACKOFF)
        return dataclasses.replace(outcome, state="retry", delay_ms=int(seconds * 1000))
    return outcome


def unsettled(job: Claimed, exc: BaseException) -> Outcome:
    """The last resort when settling or storing an outcome raised: fail the job, with why."""
    wrapped = RuntimeError(f"rqueues could not settle this job's outcome: {_describe(exc)}")
    wrapped.__cause__ = exc
    return Outcome(job, "failed", failure(wrapped), exception_names=("RuntimeError",), permanent=True)


def _describe(exc: BaseException) -> str:
    try:
        return f"{type(exc).__name__}: {exc}"
    except BaseException:  # an exception whose __str__ raises
        return type(exc).__name__
