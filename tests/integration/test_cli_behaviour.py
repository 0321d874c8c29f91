"""The CLI behaves like a good Unix tool: non-zero exits on errors, one-line messages, readable output."""

from __future__ import annotations

import json
import os
import pty
import select
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import tasks
from click.testing import CliRunner, Result

from rqueues import Connection, JobFailed, Queue, RetryPolicy
from rqueues.cli import main
from rqueues.observe.snapshot import QueueView, Snapshot, WorkerView
from rqueues.observe.stats import QueueStats
from rqueues.observe.top import render
from rqueues.quickstart.embedded import free_port

TESTS = Path(__file__).resolve().parents[1]


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def one_line_error(result: Result, *needles: str) -> None:
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    for needle in needles:
        assert needle in result.output, result.output


def test_top_with_redis_unreachable_is_an_error() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    one_line_error(invoke("top", "-n", "1", "--redis-url", url), "cannot reach Redis")


@pytest.mark.parametrize("command", ["worker", "exporter"])
def test_an_unknown_log_level_is_a_usage_error(command: str, redis_url: str) -> None:
    result = invoke(command, "--log-level", "LOUD", "--redis-url", redis_url)
    assert result.exit_code == 2 and "Traceback" not in result.output  # click's usage error
    [error] = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert "'--log-level'" in error and "LOUD" in error


@pytest.fixture
def taken_port() -> Iterator[int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    yield sock.getsockname()[1]
    sock.close()


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(TESTS))
    return subprocess.run(
        [sys.executable, "-m", "rqueues.cli", *args], capture_output=True, text=True, timeout=timeout,
        env=env, cwd=TESTS, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def test_a_metrics_port_in_use_is_one_line(redis_url: str, taken_port: int) -> None:
    args = ("--redis-url", redis_url, "--metrics-addr", "127.0.0.1", "--metrics-port", str(taken_port))
    proc = run_cli("worker", "--import", "tasks", *args)
    assert proc.returncode == 1, proc.stderr
    assert f"cannot serve metrics on 127.0.0.1:{taken_port}" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_an_exporter_port_in_use_is_one_line(redis_url: str, taken_port: int) -> None:
    proc = run_cli("exporter", "--redis-url", redis_url, "--addr", "127.0.0.1", "--port", str(taken_port))
    assert proc.returncode == 1, proc.stderr
    assert f"cannot serve metrics on 127.0.0.1:{taken_port}" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_second_worker_with_a_live_workers_id_is_refused(
    conn: Connection, redis_url: str, worker_process: Callable[..., Any]
) -> None:
    Queue("default", conn).declare()
    first = worker_process()
    proc = run_cli("worker", "--redis-url", redis_url, "--import", "tasks", "--worker-id", first.worker_id)
    assert proc.returncode == 1, proc.stderr
    assert f"worker id {first.worker_id!r} is in use by a live worker" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert first.process.poll() is None  # the live one is untouched


def test_top_quits_on_q(conn: Connection, redis_url: str) -> None:
    Queue("default", conn).declare()
    env = dict(os.environ, PYTHONPATH=str(TESTS), COLUMNS="80", LINES="24")
    leader, follower = pty.openpty()  # `rqueues top` on a terminal of its own
    cmd = [sys.executable, "-m", "rqueues.cli", "top", "--redis-url", redis_url]
    proc = subprocess.Popen(cmd, stdin=follower, stdout=follower, stderr=follower, env=env, cwd=TESTS)
    os.close(follower)
    screen = b""
    deadline = time.monotonic() + 30
    try:
        while b"rqueues top" not in screen and time.monotonic() < deadline:
            if select.select([leader], [], [], 0.5)[0]:
                screen += os.read(leader, 65536)
        assert b"rqueues top" in screen, screen
        os.write(leader, b"q")
        assert proc.wait(timeout=20) == 0, screen
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        os.close(leader)


def test_top_at_80_columns_drops_columns_and_keeps_the_state() -> None:
    q = QueueView(
        name="a-rather-long-queue-name", concurrency=2, tags=(), waiting=5, lag_known=True, pending=2,
        running=2, stalled=0, in_use=2, expired_leases=0, scheduled=3, scheduled_due=0, dead=1,
        oldest_waiting_seconds=12.0, consumers=1, rate_limit=None, stats=QueueStats(),
    )  # fmt: skip
    w = WorkerView(
        "host-1.12345.abcd", "host-1", 12345, ("has=gpu",), ("a-rather-long-queue-name",), 8, 2, (), 0.3
    )
    text = render(Snapshot(0.0, [q], [w], 0, None), {}, {}, width=80)
    lines = text.splitlines()
    assert all(len(line) <= 80 for line in lines), lines
    header = next(line for line in lines if line.startswith("QUEUE"))
    assert header.split()[-1] == "STATE" and "WAITING" in header
    row = next(line for line in lines if line.startswith("a-rather"))
    assert row.split()[-1] == "limit-bound"
    wide = render(Snapshot(0.0, [q], [w], 0, None), {}, {})
    assert "STALLED" in wide and "STALLED" not in text


def test_info_titles_itself_info(conn: Connection, redis_url: str) -> None:
    Queue("default", conn).declare()
    result = invoke("info", "--redis-url", redis_url)
    assert result.exit_code == 0 and result.output.startswith("rqueues info"), result.output


def test_job_shows_each_attempts_error_and_traceback_readably(
    conn: Connection, redis_url: str, quick_worker: Callable[..., Any]
) -> None:
    q = Queue("default", conn)
    q.declare(retry=RetryPolicy(retries=1, backoff=0.01))
    quick_worker()
    job = q.enqueue(tasks.fail, "it broke")
    with pytest.raises(JobFailed):
        job.wait(timeout=15)
    result = invoke("job", job.id, "--redis-url", redis_url)
    assert result.exit_code == 0, result.output
    text = result.output
    assert "\nstate: failed\n" in text
    assert text.count("attempt 1: ValueError: it broke") == 1 and "attempt 2: ValueError: it broke" in text
    assert "\n    Traceback (most recent call last):" in text  # real lines, indented
    assert "\\n" not in text and "{'" not in text  # no repr of an escaped one-line traceback
    data = json.loads(invoke("job", job.id, "--json", "--redis-url", redis_url).output)
    assert [e["attempt"] for e in data["errors"]] == [1, 2]


def test_workers_json_times_are_iso(
    conn: Connection, redis_url: str, quick_worker: Callable[..., Any], wait_until: Any
) -> None:
    Queue("default", conn).declare()
    quick_worker(worker_id="w-iso")
    wait_until(lambda: conn.redis.exists(conn.keys.worker("w-iso")), what="the first heartbeat")
    [row] = json.loads(invoke("workers", "--json", "--redis-url", redis_url).output)
    for key in ("started_at", "last_heartbeat"):
        assert isinstance(row[key], str) and row[key].endswith("+00:00"), row


def test_info_json_times_are_iso(conn: Connection, redis_url: str) -> None:
    Queue("default", conn).declare()
    data = json.loads(invoke("info", "--json", "--redis-url", redis_url).output)
    assert isinstance(data["time"], str) and data["time"].endswith("+00:00"), data["time"]
