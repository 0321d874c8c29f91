"""How a finished run settles: a pure function from what happened to what to store."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable

from ..backend.scripts import STOPPED
from ..retry import RetryPolicy
from .execution import Outcome

__all__ = ["STOPPED", "settle"]


def settle(outcome: Outcome, policy: RetryPolicy, rand: Callable[[], float] = random.random) -> Outcome:
    """The outcome to store for a run that ended with ``outcome``.

    A stop that was requested wins over success or failure (the job is
    'cancelled'; complete.lua applies the same rule to a stop the worker had not
    seen yet); a failure is retried after the policy's delay while attempts
    remain and the exception qualifies, else it is final.
    """
    job = outcome.claimed
    if job.stop_requested and outcome.state in ("succeeded", "failed"):
        return Outcome(job, "cancelled", STOPPED)
    if outcome.state == "failed" and policy.retries_after(job.attempts, outcome.exception_names):
        delay_ms = int(policy.delay(job.attempts, rand) * 1000)
        return dataclasses.replace(outcome, state="retry", delay_ms=delay_ms)
    return outcome
