"""A middleware that appends what each hook saw to a Redis list, and jobs to run under it.

The list is ``$RQUEUES_TEST_HOOKS_URL`` (a Redis URL), key ``hooks``; each item is a JSON
array whose first item is the hook's name and whose last is the pid of the process it ran
in. With ``$RQUEUES_TEST_HOOKS_AT_IMPORT`` set, importing the module installs the
recorder (the way a worker's --import modules install middleware); else a test or a
worker's --middleware hook_tasks:Recorder does.
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

import redis

import rqueues

KEY = "hooks"


class Recorder(rqueues.Middleware):
    def __init__(self, url: str | None = None) -> None:
        self.redis = redis.Redis.from_url(url or os.environ["RQUEUES_TEST_HOOKS_URL"])

    def _log(self, *items: Any) -> None:
        self.redis.rpush(KEY, json.dumps([*items, os.getpid()]))

    def before_enqueue(self, call: rqueues.EnqueueCall) -> None:
        call.meta["recorded"] = "yes"
        self._log("before_enqueue", call.queue, call.function)

    def after_enqueue(self, call: rqueues.EnqueueCall, job: rqueues.Job) -> None:
        self._log("after_enqueue", job.id)

    def before_run(self, ctx: rqueues.RunContext) -> None:
        current = rqueues.current_job()
        self._log("before_run", ctx.job_id, ctx.attempts, ctx.meta, current.id if current else None)

    def after_run(self, ctx: rqueues.RunContext, outcome: rqueues.RunOutcome) -> None:
        error = type(outcome.error).__name__ if outcome.error is not None else None
        self._log("after_run", ctx.job_id, ctx.attempts, outcome.state, outcome.result, error)

    def on_failure(self, ctx: rqueues.RunContext, exc: BaseException) -> None:
        self._log("on_failure", ctx.job_id, ctx.attempts, type(exc).__name__)

    def on_retry(self, ctx: rqueues.RunContext, error: rqueues.JobFailed, delay: float) -> None:
        self._log("on_retry", ctx.job_id, ctx.attempts, error.exc_type, error.message, delay, ctx.meta)


def recorded(url: str) -> list[list[Any]]:
    """What the hooks saw, oldest first."""
    r = redis.Redis.from_url(url)
    try:
        return [json.loads(item) for item in r.lrange(KEY, 0, -1)]
    finally:
        r.close()


def double(x: int) -> int:
    return 2 * x


async def adouble(x: int) -> int:
    await asyncio.sleep(0)
    return 2 * x


def fail_until(succeed_at: int) -> int:
    """Fails until attempt ``succeed_at``, then returns the attempt's number."""
    job = rqueues.current_job()
    assert job is not None
    if job.attempts < succeed_at:
        raise ValueError(f"attempt {job.attempts} fails")
    return job.attempts


def middleware_env() -> str | None:
    """What a child process this worker starts would inherit."""
    return os.environ.get("RQUEUES_MIDDLEWARE")


if os.environ.get("RQUEUES_TEST_HOOKS_AT_IMPORT"):
    rqueues.add_middleware(Recorder())
