"""`rqueues enqueue`: arguments from the line, a file or stdin; the library's options; clear refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from rqueues import Connection, Job, Queue
from rqueues.cli import main


@pytest.fixture
def q(conn: Connection) -> Queue:
    queue = Queue("default", conn)
    queue.declare()
    return queue


def enqueue(redis_url: str, *args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(main, ["enqueue", "--redis-url", redis_url, *args], input=stdin)


def call_of(conn: Connection, result: Result) -> tuple[list[object], dict[str, object]]:
    assert result.exit_code == 0, result.output
    call = Job.fetch(result.stdout.strip(), conn).record().call()
    assert call is not None
    return call


def test_args_json_from_stdin(conn: Connection, q: Queue, redis_url: str) -> None:
    body = json.dumps({"args": [1, "two"], "kwargs": {"width": 200}})
    result = enqueue(redis_url, "--args-json", "-", "default", "tasks:echo", stdin=body)
    assert call_of(conn, result) == ([1, "two"], {"width": 200})


def test_args_json_from_a_file_then_the_line(
    conn: Connection, q: Queue, redis_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "call.json"
    path.write_text(json.dumps(["a", {"nested": [1, 2]}]))
    result = enqueue(redis_url, "--args-json", str(path), "default", "tasks:echo", "b", "--height", "3")
    assert call_of(conn, result) == (["a", {"nested": [1, 2]}, "b"], {"height": 3})


@pytest.mark.parametrize(
    ("body", "needle"),
    [("{not json", "is not JSON"), ('{"other": 1}', "must hold an array"), ('"text"', "must hold an array")],
)
def test_bad_args_json_is_refused(q: Queue, redis_url: str, body: str, needle: str) -> None:
    result = enqueue(redis_url, "--args-json", "-", "default", "tasks:echo", stdin=body)
    assert result.exit_code == 2 and needle in result.output and "Traceback" not in result.output
    assert q.info().waiting == 0


def test_a_keyword_without_a_value_is_an_error_not_true(q: Queue, redis_url: str) -> None:
    result = enqueue(redis_url, "default", "tasks:echo", "--verbose")
    assert result.exit_code == 2 and "--verbose needs a value" in result.output
    assert q.info().waiting == 0
    ok = enqueue(redis_url, "default", "tasks:echo", "--verbose", "true")
    assert ok.exit_code == 0


def test_the_librarys_options(conn: Connection, q: Queue, redis_url: str) -> None:
    result = enqueue(
        redis_url, "--retries", "3", "--backoff", "0.5", "--job-timeout", "60", "--delay", "5m",
        "--job-id", "nightly-1", "default", "tasks:add", "1", "2",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rec = Job.fetch("nightly-1", conn).record()
    assert rec.state == "scheduled"
    assert (rec.options["retries"], rec.options["backoff"], rec.options["timeout"]) == (3, 0.5, 60.0)
    due = conn.redis.zscore(conn.keys.queue("default").scheduled, "nightly-1")
    assert due is not None and 295 < (due / 1000 - (rec.enqueued_at or 0)) < 305


def test_a_keyword_named_like_an_option_goes_after_a_double_dash(
    conn: Connection, q: Queue, redis_url: str
) -> None:
    result = enqueue(redis_url, "default", "tasks:echo", "--", "--retries", "7")
    assert call_of(conn, result) == ([], {"retries": 7})


def test_usage_shows_args(redis_url: str) -> None:
    result = CliRunner().invoke(main, ["enqueue", "--help"])
    assert "QUEUE FUNCTION [ARGS]..." in result.output


@pytest.mark.parametrize("value", ["soon", "-5m", "0"])
def test_a_bad_delay_is_refused(q: Queue, redis_url: str, value: str) -> None:
    result = enqueue(redis_url, "--delay", value, "default", "tasks:noop")
    assert result.exit_code == 2 and "duration" in result.output
