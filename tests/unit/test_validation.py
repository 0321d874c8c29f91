"""What declare and enqueue refuse: non-finite or absurd numbers, bad job ids, malformed config hashes.

Each case names the field in its error, so a typo is found where it was made and
never overflows later (a retry delay of inf, an EXPIRE Redis refuses after the ack).
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from rqueues import defaults
from rqueues.config import ConfigProblems, QueueConfig
from rqueues.errors import ConfigurationError
from rqueues.options import JobOptions, stored_result_ttl, stored_timeout
from rqueues.retry import RetryPolicy

INF, NAN = math.inf, math.nan


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"backoff": INF}, "backoff"),
        ({"backoff": NAN}, "backoff"),
        ({"backoff": -1}, "backoff"),
        ({"backoff": defaults.MAX_BACKOFF + 1, "backoff_max": defaults.MAX_BACKOFF + 1}, "backoff"),
        ({"backoff_max": INF}, "backoff_max"),
        ({"backoff_max": NAN}, "backoff_max"),
        ({"backoff_max": defaults.MAX_BACKOFF * 2}, "backoff_max"),
        ({"retries": defaults.MAX_RETRIES + 1}, "retries"),
        ({"retries": 1e9}, "retries"),
        ({"backoff": "1"}, "backoff"),
        ({"backoff": True}, "backoff"),
        ({"retry_on": "ValueError"}, "retry_on"),
        ({"retry_on": (1,)}, "retry_on"),
    ],
)
def test_retry_policy_refuses_absurd_numbers(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        RetryPolicy(**kwargs)
    assert str(info.value).startswith(f"{field} must be"), info.value


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"concurrency": defaults.MAX_CONCURRENCY + 1}, "concurrency"),
        ({"result_ttl": 10**16}, "result_ttl"),
        ({"result_ttl": defaults.MAX_RESULT_TTL + 1}, "result_ttl"),
        ({"max_reclaims": defaults.MAX_MAX_RECLAIMS + 1}, "max_reclaims"),
        ({"max_reclaims": -1}, "max_reclaims"),
    ],
)
def test_queue_config_refuses_absurd_numbers(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        QueueConfig("q", **kwargs)
    assert str(info.value).startswith(f"{field} must be"), info.value


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"timeout": INF}, "timeout"),
        ({"timeout": NAN}, "timeout"),
        ({"timeout": 0}, "timeout"),
        ({"timeout": "soon"}, "timeout"),
        ({"timeout": defaults.MAX_TIMEOUT + 1}, "timeout"),
        ({"delay": INF}, "delay"),
        ({"delay": NAN}, "delay"),
        ({"delay": defaults.MAX_DELAY * 2}, "delay"),
        ({"result_ttl": 10**16}, "result_ttl"),
        ({"result_ttl": 1.5}, "result_ttl"),
        ({"backoff": INF}, "backoff"),
        ({"backoff_max": NAN}, "backoff_max"),
        ({"retries": -1}, "retries"),
        ({"retry_on": "ValueError"}, "retry_on"),
    ],
)
def test_job_options_refuse_absurd_numbers(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        JobOptions(**kwargs)
    assert str(info.value).startswith(f"{field} must be"), info.value


@pytest.mark.parametrize(
    "kwargs",
    [
        {"backoff": defaults.MAX_BACKOFF, "backoff_max": defaults.MAX_BACKOFF},
        {"timeout": defaults.MAX_TIMEOUT},
        {"delay": defaults.MAX_DELAY},
        {"result_ttl": defaults.MAX_RESULT_TTL},
        {"retries": defaults.MAX_RETRIES},
    ],
)
def test_the_limits_themselves_are_accepted(kwargs: dict[str, Any]) -> None:
    options = JobOptions(**kwargs)
    assert all(getattr(options, k) == v for k, v in kwargs.items())


@pytest.mark.parametrize(
    ("job_id", "problem"),
    [
        ("", "empty or blank"),
        (" ", "empty or blank"),
        ("\t\n", "empty or blank"),
        ("a b", "whitespace"),
        ("a\x00b", "control characters"),
        ("a\x7fb", "control characters"),
        ("line\n", "whitespace"),
        ("x" * (defaults.MAX_JOB_ID_LENGTH + 1), f"{defaults.MAX_JOB_ID_LENGTH + 1} characters"),
        ("a:b", "':'"),
        (42, "must be a string"),
    ],
)
def test_bad_job_ids_are_refused_with_the_reason(job_id: Any, problem: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        JobOptions(job_id=job_id)
    assert problem in str(info.value)


@pytest.mark.parametrize("job_id", ["invoice-42", "x" * defaults.MAX_JOB_ID_LENGTH, "é-ü", "a.b_c{d}"])
def test_good_job_ids_pass(job_id: str) -> None:
    assert JobOptions(job_id=job_id).job_id == job_id


@pytest.mark.parametrize(
    ("raw", "named"),
    [
        ({b"concurrency": b"two"}, "concurrency is b'two'"),
        ({b"concurrency": b"-1"}, "concurrency must be"),
        ({b"concurrency": b"\xff"}, "concurrency is b'\\xff'"),
        ({b"tags": b"not json"}, "tags is b'not json'"),
        ({b"tags": b'"has=gpu"'}, "expected a JSON list of strings"),
        ({b"tags": b'["has=[gpu"]'}, "invalid tag pattern 'has=[gpu'"),
        ({b"retry_on": b"[1]"}, "retry_on is"),
        ({b"backoff": b"inf"}, "backoff must be"),
        ({b"backoff_max": b"nan"}, "backoff_max must be"),
        ({b"result_ttl": b"1e16"}, "result_ttl is b'1e16'"),
        ({b"result_ttl": b"10000000000000000"}, "result_ttl must be"),
        ({b"max_reclaims": b"many"}, "max_reclaims is"),
        ({b"version": b"v2"}, "version is"),
    ],
)
def test_malformed_config_hash_names_queue_and_field(raw: dict[bytes, bytes], named: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        QueueConfig.from_hash("photos", raw)
    message = str(info.value)
    assert message.startswith("queue 'photos' has a malformed configuration: "), message
    assert named in message, message


def test_config_problems_skip_the_bad_queue_and_log_once_per_version(
    caplog: pytest.LogCaptureFixture,
) -> None:
    problems = ConfigProblems()
    raws = {"good": {b"concurrency": b"2"}, "bad": {b"concurrency": b"two", b"version": b"3"}, "gone": {}}
    for _ in range(3):
        configs = problems.parse(raws, "skipped")
        assert set(configs) == {"good"}
    assert [r.getMessage() for r in caplog.records].count(
        "queue 'bad' has a malformed configuration: concurrency is b'two' (invalid literal for int() "
        "with base 10: 'two'); skipped (fix it with `rqueues declare bad ...`)"
    ) == 1
    raws["bad"] = {b"concurrency": b"three", b"version": b"4"}  # a new version is reported again
    problems.parse(raws, "skipped")
    assert sum("queue 'bad'" in r.getMessage() for r in caplog.records) == 2


@pytest.mark.parametrize(
    ("options", "timeout"),
    [({}, None), ({"timeout": 2}, 2.0), ({"timeout": 0.5}, 0.5)],
)
def test_stored_timeout_reads_usable_values(options: dict[str, Any], timeout: float | None) -> None:
    assert stored_timeout(options) == timeout


@pytest.mark.parametrize("value", ["soon", INF, -1, 0, [1], True])
def test_stored_options_refuse_what_enqueue_never_writes(value: Any) -> None:
    with pytest.raises(ConfigurationError):
        stored_timeout({"timeout": value})
    with pytest.raises(ConfigurationError):
        stored_result_ttl({"result_ttl": value}, 60)
    assert stored_result_ttl({}, 60) == 60
