"""Declare and enqueue refuse what would break later, naming the field, and write nothing:
non-finite or absurd numbers, bad job ids, arguments above the payload limit or above what Redis takes."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import pytest
import tasks
from click.testing import Result

from rqueues import (
    ConfigurationError,
    Connection,
    DuplicateJob,
    PayloadTooLarge,
    Queue,
    RedisUnavailable,
    RetryPolicy,
    Worker,
    connect,
    defaults,
)
from rqueues.codec import encode_result
from rqueues.worker.execution import Outcome

MiB = 1024 * 1024


def written(conn: Connection) -> list[bytes]:
    return list(conn.redis.scan_iter(match="*:job:*"))


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--backoff", "inf"], "Invalid value for '--backoff'"),
        (["--backoff", "nan"], "backoff must be >= 0 seconds"),
        (["--backoff-max", "nan"], "backoff_max must be >= 0 seconds"),
        (["--backoff-max", "1e9"], "Invalid value for '--backoff-max'"),
        (["--result-ttl", "10000000000000000"], "Invalid value for '--result-ttl'"),
        (["--retries", "1000000"], "Invalid value for '--retries'"),
        (["--concurrency", "99999999"], "Invalid value for '--concurrency'"),
        (["--max-reclaims", "99999"], "Invalid value for '--max-reclaims'"),
    ],
)
def test_declare_refuses_absurd_numbers(
    cli: Callable[..., Result], conn: Connection, args: list[str], says: str
) -> None:
    result = cli("declare", "q", *args)
    assert result.exit_code != 0
    assert says in result.output, result.output
    assert "Traceback" not in result.output
    assert not conn.redis.exists(conn.keys.queue("q").config)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--job-timeout", "inf"], "timeout must be > 0 seconds"),
        (["--job-timeout", "nan"], "timeout must be > 0 seconds"),
        (["--result-ttl", "10000000000000000"], "Invalid value for '--result-ttl'"),
        (["--job-id", " "], "invalid job id ' ': it is empty or blank"),
        (["--job-id", "a b"], "it contains whitespace"),
    ],
)
def test_enqueue_refuses_absurd_options(
    cli: Callable[..., Result], conn: Connection, q: Queue, args: list[str], says: str
) -> None:
    result = cli("enqueue", "default", "tasks:noop", *args)
    assert result.exit_code != 0
    assert says in result.output, result.output
    assert written(conn) == []


def test_the_library_refuses_the_same_before_writing(conn: Connection, q: Queue) -> None:
    with pytest.raises(ConfigurationError, match="backoff must be"):
        q.declare(retry=RetryPolicy(retries=3, backoff=math.inf, backoff_max=math.inf))
    with pytest.raises(ConfigurationError, match="result_ttl must be"):
        q.declare(result_ttl=10**16)
    for options in ({"delay": math.inf}, {"timeout": math.nan}, {"backoff": -1.0}, {"job_id": " "}):
        with pytest.raises(ConfigurationError):
            q.options(**options).enqueue(tasks.noop)
    assert written(conn) == []
    assert q.config().retry == RetryPolicy()  # the first declaration stands


def test_a_duplicate_job_id_is_named(conn: Connection, q: Queue) -> None:
    q.options(job_id="invoice-42").enqueue(tasks.noop)
    with pytest.raises(DuplicateJob, match="a job with id 'invoice-42' already exists in queue 'default'"):
        q.options(job_id="invoice-42").enqueue(tasks.noop)


def test_arguments_above_the_payload_limit_are_refused_with_size_and_limit(
    conn: Connection, q: Queue
) -> None:
    with pytest.raises(PayloadTooLarge) as info:
        q.enqueue(tasks.echo, b"x" * (defaults.MAX_PAYLOAD_BYTES + 1))
    message = str(info.value)
    assert "the arguments of tasks:echo encode to 4194314 bytes" in message
    assert f"more than the limit of {defaults.MAX_PAYLOAD_BYTES} bytes" in message
    small = connect(conn.url, max_payload_bytes=100)
    try:
        with pytest.raises(PayloadTooLarge, match="more than the limit of 100 bytes"):
            Queue("default", small).enqueue_many([(tasks.echo, ("ok",), {}), (tasks.echo, ("y" * 200,), {})])
    finally:
        small.close()
    assert written(conn) == []  # one call too large keeps the whole batch out


def test_the_cli_names_the_payload_limit(cli: Callable[..., Result], conn: Connection, q: Queue) -> None:
    result = cli("enqueue", "default", "tasks:echo", "x" * (defaults.MAX_PAYLOAD_BYTES + 1))
    assert result.exit_code == 1
    assert "more than the limit of 4194304 bytes" in result.output
    assert written(conn) == []


@pytest.fixture
def small_bulk(conn: Connection) -> Iterator[None]:
    """The server refuses values above 1 MiB (its smallest proto-max-bulk-len)."""
    before = conn.redis.config_get("proto-max-bulk-len")["proto-max-bulk-len"]
    conn.redis.config_set("proto-max-bulk-len", MiB)
    yield
    conn.redis.config_set("proto-max-bulk-len", before)


@pytest.mark.parametrize("size", [MiB + 10, 3 * MiB])  # just above: an error reply; far above: a reset
def test_a_value_above_proto_max_bulk_len_is_not_reported_as_unreachable(
    conn: Connection, q: Queue, small_bulk: None, size: int
) -> None:
    with pytest.raises(PayloadTooLarge) as info:
        q.enqueue(tasks.echo, b"x" * size)
    assert not isinstance(info.value, RedisUnavailable)
    message = str(info.value)
    assert "refused a request carrying a value of" in message
    assert f"its proto-max-bulk-len is {MiB} bytes" in message
    assert q.enqueue(tasks.noop).state == "queued"  # the connection is usable again


def test_results_that_fill_a_completion_batch_are_stored_under_a_small_proto_max_bulk_len(
    conn: Connection, q: Queue, small_bulk: None
) -> None:
    """A batch of outcomes goes to complete.lua as one argument: the acker splits it so that
    four results of 600 KB (2.4 MB in all), each below the server's 1 MiB, are all stored."""
    jobs = [q.enqueue(tasks.noop) for _ in range(4)]
    worker = Worker(conn, imports=["tasks"], reaper=False)
    worker.refresh()
    assert worker.dispatcher.claim_once().claimed == 4
    held = [job for group in worker.held.snapshot().values() for job in group]
    big = encode_result(b"r" * 600_000)
    worker.acker.complete([Outcome(job, "succeeded", big) for job in held])
    assert [job.record().state for job in jobs] == ["succeeded"] * 4
    assert jobs[0].result == b"r" * 600_000
