"""How a run settles (settle, run_job, unsettled): one row per case, no server.

Errors no retry can fix (a function this worker cannot import, arguments that do
not decode, a result msgpack cannot carry or that is too large) are never retried
under the queue's policy; ordinary failures are, with a bounded delay.
"""

from __future__ import annotations

import pytest
import tasks

from rqueues import defaults
from rqueues.codec import decode_error, encode_call
from rqueues.functions import FunctionRegistry
from rqueues.retry import RetryPolicy
from rqueues.worker.execution import Claimed, Outcome, run_job
from rqueues.worker.settle import settle, unsettled

RETRY3 = RetryPolicy(retries=3, backoff=2.0, backoff_max=60.0)


def claimed(
    attempts: int = 1, stop: bool = False, function: str = "tasks:add", payload: bytes = b""
) -> Claimed:
    job = Claimed("q", "1-0", "job-1", function, payload or encode_call((1, 2), {}), attempts, {}, 60)
    job.stop_requested = stop
    return job


def outcome(
    state: str,
    attempts: int = 1,
    stop: bool = False,
    permanent: bool = False,
    names: tuple[str, ...] = ("ValueError",),
) -> Outcome:
    return Outcome(claimed(attempts, stop), state, b"blob", exception_names=names, permanent=permanent)


@pytest.mark.parametrize(
    ("ran", "policy", "expect"),
    [
        (outcome("succeeded"), RETRY3, "succeeded"),
        (outcome("failed"), RETRY3, "retry"),
        (outcome("failed", attempts=3), RETRY3, "retry"),
        (outcome("failed", attempts=4), RETRY3, "failed"),  # retries exhausted
        (outcome("failed"), RetryPolicy(), "failed"),  # no retries declared
        (outcome("failed"), RetryPolicy(retries=3, retry_on=("KeyError",)), "failed"),  # not retry_on
        (outcome("failed", permanent=True), RETRY3, "failed"),  # a result msgpack cannot carry, ...
        (outcome("failed", permanent=True, names=("UnknownFunction",)), RETRY3, "failed"),
        (outcome("dead"), RETRY3, "dead"),  # arguments that do not decode: a dead letter
        (outcome("refused"), RETRY3, "refused"),  # given back or failed by the acker, never retried
        (outcome(""), RETRY3, ""),  # a consumed tombstone
        (outcome("succeeded", stop=True), RETRY3, "cancelled"),
        (outcome("failed", stop=True), RETRY3, "cancelled"),
        (outcome("refused", stop=True), RETRY3, "cancelled"),
        (outcome("dead", stop=True), RETRY3, "dead"),
    ],
)
def test_settle(ran: Outcome, policy: RetryPolicy, expect: str) -> None:
    settled = settle(ran, policy, rand=lambda: 0.5)
    assert settled.state == expect
    if expect == "retry":
        full = min(60.0, 2.0 * 2 ** (ran.claimed.attempts - 1))
        assert settled.delay_ms == int(full * 0.75 * 1000)
    else:
        assert settled.delay_ms == 0


@pytest.mark.parametrize("attempts", [1, 10, 1000, 10**6])
def test_retry_delays_stay_bounded_whatever_the_attempt(attempts: int) -> None:
    policy = RetryPolicy(
        retries=defaults.MAX_RETRIES, backoff=defaults.MAX_BACKOFF, backoff_max=defaults.MAX_BACKOFF
    )
    settled = settle(
        outcome("failed", attempts=min(attempts, defaults.MAX_RETRIES)), policy, rand=lambda: 1.0
    )
    assert settled.state == "retry"
    assert settled.delay_ms == int(defaults.MAX_BACKOFF * 1000)
    assert policy.delay(attempts, rand=lambda: 1.0) == defaults.MAX_BACKOFF


FUNCTIONS = FunctionRegistry(["tasks"])


@pytest.mark.parametrize(
    ("function", "payload", "limit", "state", "permanent", "says"),
    [
        ("tasks:add", encode_call((1, 2), {}), 1024, "succeeded", False, ""),
        ("tasks:add", b"\xc1not msgpack", 1024, "dead", False, "cannot decode job payload"),
        ("tasks:nope", encode_call((), {}), 1024, "refused", True, "has no function 'nope'"),
        ("json:dumps", encode_call((1,), {}), 1024, "refused", True, "--import json"),
        ("tasks:fail", encode_call((), {}), 1024, "failed", False, "boom"),
        (
            "tasks:raise_unprintable",
            encode_call((), {}),
            1024,
            "failed",
            False,
            "<str() of the tasks.UnprintableError raised RuntimeError",
        ),
        (
            "tasks:unserializable_result",
            encode_call((), {}),
            1024,
            "failed",
            True,
            "cannot be serialized by msgpack",
        ),
        (
            "tasks:big_result",
            encode_call((100,), {}),
            50,
            "failed",
            True,
            "encodes to 102 bytes, more than the limit of 50 bytes",
        ),
    ],
)
def test_run_job(function: str, payload: bytes, limit: int, state: str, permanent: bool, says: str) -> None:
    ran = run_job(claimed(function=function, payload=payload), FUNCTIONS, max_result_bytes=limit)
    assert (ran.state, ran.permanent) == (state, permanent)
    text = (
        ran.reason if state == "dead" else decode_error(ran.blob)["message"] if state != "succeeded" else ""
    )
    assert says in text


def test_unsettled_fails_the_job_with_the_reason_even_for_an_unprintable_exception() -> None:
    for exc in (OverflowError("cannot convert float infinity to integer"), tasks.UnprintableError()):
        failed = unsettled(claimed(), exc)
        assert (failed.state, failed.permanent) == ("failed", True)
        message = decode_error(failed.blob)["message"]
        assert message.startswith("rqueues could not settle this job's outcome: ")
        assert type(exc).__name__ in message


def test_a_stop_keeps_the_stopped_error_and_a_retry_keeps_the_attempts_own() -> None:
    from rqueues.worker.settle import STOPPED

    assert settle(outcome("succeeded", stop=True), RETRY3).blob == STOPPED
    assert settle(outcome("failed"), RETRY3, rand=lambda: 1.0).blob == b"blob"
