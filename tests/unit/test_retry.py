"""The retry policy as pure functions: backoff with jitter, retry_on matching, per-job overrides."""

from __future__ import annotations

from typing import Any

import pytest

from rqueues import ConfigurationError, JobOptions, QueueConfig, RetryPolicy
from rqueues.retry import exception_names


class AppError(Exception):
    pass


class FlakyNetwork(AppError, ConnectionError):
    pass


@pytest.mark.parametrize(
    ("policy", "attempt", "jitter", "expected"),
    [
        # equal jitter: half the exponential delay, plus up to the other half
        (RetryPolicy(retries=5, backoff=2.0), 1, 0.0, 1.0),
        (RetryPolicy(retries=5, backoff=2.0), 1, 1.0, 2.0),
        (RetryPolicy(retries=5, backoff=2.0), 2, 0.5, 3.0),
        (RetryPolicy(retries=5, backoff=2.0), 3, 0.5, 6.0),
        (RetryPolicy(retries=5, backoff=2.0), 4, 1.0, 16.0),
        # capped at backoff_max before the jitter is applied
        (RetryPolicy(retries=9, backoff=2.0, backoff_max=10.0), 4, 1.0, 10.0),
        (RetryPolicy(retries=9, backoff=2.0, backoff_max=10.0), 9, 0.0, 5.0),
        # attempt 0 (never happens in a worker) is treated as the first
        (RetryPolicy(retries=1, backoff=3.0), 0, 1.0, 3.0),
        (RetryPolicy(retries=1, backoff=0.0, backoff_max=0.0), 3, 1.0, 0.0),
    ],
)
def test_delay_is_exponential_capped_with_equal_jitter(
    policy: RetryPolicy, attempt: int, jitter: float, expected: float
) -> None:
    assert policy.delay(attempt, rand=lambda: jitter) == pytest.approx(expected)


def test_delays_grow_and_stay_within_half_to_full_of_the_exponential() -> None:
    policy = RetryPolicy(retries=8, backoff=0.5, backoff_max=20.0)
    for jitter in (0.0, 0.3, 1.0):
        delays = [policy.delay(n, rand=lambda j=jitter: j) for n in range(1, 9)]
        assert delays == sorted(delays)
        assert delays[-1] == pytest.approx(10.0 + jitter * 10.0)  # reached the cap
    for n in range(1, 9):
        full = min(20.0, 0.5 * 2 ** (n - 1))
        for _ in range(50):  # the default jitter source, within its bounds
            assert full / 2 <= policy.delay(n) <= full


@pytest.mark.parametrize(
    ("retries", "attempt", "expected"),
    [(0, 1, False), (1, 1, True), (1, 2, False), (3, 3, True), (3, 4, False)],
)
def test_retries_counts_attempts_after_the_first(retries: int, attempt: int, expected: bool) -> None:
    assert RetryPolicy(retries=retries).retries_after(attempt, ["ValueError"]) is expected


@pytest.mark.parametrize(
    ("retry_on", "exc", "expected"),
    [
        ((), ValueError("x"), True),  # empty: any exception
        (("ValueError",), ValueError("x"), True),
        (("builtins.ValueError",), ValueError("x"), True),
        (("ValueError",), KeyError("x"), False),
        (("LookupError",), KeyError("x"), True),  # a base class by bare name
        (("AppError",), FlakyNetwork(), True),
        (("ConnectionError",), FlakyNetwork(), True),  # any base of a multiple inheritance
        (("OSError",), FlakyNetwork(), True),
        (("test_retry.AppError",), FlakyNetwork(), True),  # dotted: module.qualname
        (("other_module.AppError",), FlakyNetwork(), False),  # dotted names must match exactly
        (("apperror",), AppError(), False),  # case matters
        (("TimeoutError", "AppError"), AppError(), True),
    ],
)
def test_retry_on_matches_class_or_base_by_bare_or_dotted_name(
    retry_on: tuple[str, ...], exc: BaseException, expected: bool
) -> None:
    policy = RetryPolicy(retries=1, retry_on=retry_on)
    assert policy.retries_after(1, exception_names(exc)) is expected
    assert policy.retries_after(2, exception_names(exc)) is False  # never past ``retries``


def test_exception_names_lists_the_whole_mro_bare_and_dotted() -> None:
    names = exception_names(FlakyNetwork())
    for bare, dotted in [
        ("FlakyNetwork", "test_retry.FlakyNetwork"),
        ("AppError", "test_retry.AppError"),
        ("ConnectionError", "builtins.ConnectionError"),
        ("OSError", "builtins.OSError"),
        ("Exception", "builtins.Exception"),
        ("BaseException", "builtins.BaseException"),
    ]:
        assert bare in names and dotted in names
    assert "ValueError" not in names


def test_job_options_override_the_queue_policy_field_by_field() -> None:
    queue = RetryPolicy(retries=5, backoff=2.0, backoff_max=60.0, retry_on=("OSError",))
    assert queue.with_overrides({}) is queue
    assert queue.with_overrides({"timeout": 3, "result_ttl": 10}) is queue  # not retry settings
    assert queue.with_overrides({"retries": 0}) == RetryPolicy(0, 2.0, 60.0, ("OSError",))
    assert queue.with_overrides({"backoff": 0.5, "retry_on": ["KeyError"]}) == RetryPolicy(
        5, 0.5, 60.0, ("KeyError",)
    )
    # An empty list stored with the job means "any exception", not "the queue's list".
    assert queue.with_overrides({"retry_on": []}).retry_on == ()
    # A job's backoff above the queue's cap lifts the cap instead of making the policy invalid;
    # a cap the job sets itself must hold.
    assert queue.with_overrides({"backoff": 90.0}) == RetryPolicy(5, 90.0, 90.0, ("OSError",))
    assert JobOptions(backoff=400.0).stored() == {"backoff": 400.0}
    with pytest.raises(ConfigurationError):
        queue.with_overrides({"backoff": 90.0, "backoff_max": 30.0})
    # What a job record stores (JobOptions.stored) is what the worker applies.
    stored = JobOptions(retries=2, backoff_max=5.0, retry_on=("ValueError",)).stored()
    assert queue.with_overrides(stored) == RetryPolicy(2, 2.0, 5.0, ("ValueError",))


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"retries": -1}, "retries must be an integer >= 0 and <= 1000, got -1"),
        ({"retries": 1.5}, "retries must be an integer >= 0 and <= 1000, got 1.5"),
        ({"retries": True}, "retries must be an integer >= 0 and <= 1000, got True"),
        ({"backoff": -1.0}, "backoff must be >= 0"),
        ({"backoff": 10.0, "backoff_max": 5.0}, "backoff_max must be >= backoff, got 5.0 < 10.0"),
        ({"backoff": float("nan")}, "backoff must be >= 0"),
    ],
)
def test_bad_policy_is_refused_naming_the_setting(kwargs: dict[str, Any], needle: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        RetryPolicy(**kwargs)
    assert needle in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"retries": -2}, "retries must be an integer >= 0"),
        ({"backoff": 9.0, "backoff_max": 1.0}, "backoff_max must be >= backoff"),
        ({"delay": 0}, "delay must be > 0 seconds and <= 31536000 (365 days), got 0"),
        ({"delay": -5}, "delay must be > 0 seconds and <= 31536000 (365 days), got -5"),
        ({"delay": "soon"}, "delay must be > 0 seconds and <= 31536000 (365 days), got 'soon'"),
    ],
)
def test_bad_job_options_are_refused_at_construction(kwargs: dict[str, Any], needle: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        JobOptions(**kwargs)
    assert needle in str(info.value)


def test_delay_is_used_at_enqueue_and_not_stored_with_the_job() -> None:
    options = JobOptions(delay=2.5, retries=1)
    assert options.stored() == {"retries": 1}


def test_queue_config_keeps_the_retry_policy_through_its_hash() -> None:
    policy = RetryPolicy(retries=4, backoff=0.25, backoff_max=8.0, retry_on=("OSError", "mod.Err"))
    config = QueueConfig("q", retry=policy, max_reclaims=7)
    raw = {k.encode(): str(v).encode() for k, v in config.to_hash().items()}
    back = QueueConfig.from_hash("q", raw)
    assert back.retry == policy
    assert back.max_reclaims == 7
    # A hash written before retries existed reads as "no retries".
    assert QueueConfig.from_hash("q", {b"concurrency": b"2"}).retry == RetryPolicy()
