"""How a finished run settles: stop requested, retried after a delay, or final."""

from __future__ import annotations

import pytest

from rqueues.retry import RetryPolicy
from rqueues.worker.execution import Claimed, Outcome
from rqueues.worker.settle import STOPPED, settle


def claimed(attempts: int = 1, stop_requested: bool = False) -> Claimed:
    job = Claimed("q", "1-0", "job", "m:f", b"", attempts, {}, 60)
    job.stop_requested = stop_requested
    return job


RETRY_TWICE = RetryPolicy(retries=2, backoff=1.0, backoff_max=10.0)
ONLY_IO = RetryPolicy(retries=5, backoff=1.0, retry_on=("OSError",))


@pytest.mark.parametrize(
    ("state", "attempts", "stop", "names", "policy", "settled", "delay_ms"),
    [
        ("succeeded", 1, False, (), RETRY_TWICE, "succeeded", 0),
        ("failed", 1, False, ("ValueError",), RETRY_TWICE, "retry", 1000),  # 2**0 s, full jitter
        ("failed", 2, False, ("ValueError",), RETRY_TWICE, "retry", 2000),
        ("failed", 3, False, ("ValueError",), RETRY_TWICE, "failed", 0),  # retries used up
        ("failed", 1, False, ("ValueError",), RetryPolicy(), "failed", 0),  # no retries declared
        ("failed", 1, False, ("ValueError",), ONLY_IO, "failed", 0),  # not an exception to retry
        ("failed", 1, False, ("ConnectionError", "OSError"), ONLY_IO, "retry", 1000),
        ("succeeded", 1, True, (), RETRY_TWICE, "cancelled", 0),  # a stop wins over success
        ("failed", 1, True, ("ValueError",), RETRY_TWICE, "cancelled", 0),  # ... and over a retry
        ("dead", 1, True, (), RETRY_TWICE, "dead", 0),  # an unrunnable entry stays dead
    ],
)
def test_settle(
    state: str,
    attempts: int,
    stop: bool,
    names: tuple[str, ...],
    policy: RetryPolicy,
    settled: str,
    delay_ms: int,
) -> None:
    outcome = Outcome(claimed(attempts, stop), state, b"blob", exception_names=names)
    result = settle(outcome, policy, rand=lambda: 1.0)
    assert (result.state, result.delay_ms) == (settled, delay_ms)
    if settled == "cancelled":
        assert result.blob == STOPPED
    elif settled in ("retry", "failed", "succeeded"):
        assert result.blob == b"blob"  # the attempt's own error or result is kept


def test_the_delay_has_equal_jitter_and_the_cap() -> None:
    capped = RetryPolicy(retries=10, backoff=1.0, backoff_max=4.0)
    outcome = Outcome(claimed(attempts=6), "failed", b"", exception_names=("E",))
    assert settle(outcome, capped, rand=lambda: 0.0).delay_ms == 2000  # half of the 4 s cap
    assert settle(outcome, capped, rand=lambda: 1.0).delay_ms == 4000
