"""Middleware with real workers: the hooks each side runs, retries, refusals, and worker processes
that install middleware by --import, by --middleware and by $RQUEUES_MIDDLEWARE alone."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import hook_tasks
import pytest
from hook_tasks import Recorder, recorded

from rqueues import Connection, JobFailed, Middleware, Queue, RetryPolicy, RunContext, Worker, aio
from rqueues.middleware import ENV, add_middleware, remove_middleware

TESTS = Path(__file__).resolve().parents[1]


# Each test starts with no middleware installed (conftest.py).
pytestmark = pytest.mark.usefixtures("clean_middleware")


@pytest.fixture
def recorder(redis_url: str) -> Iterator[Recorder]:
    m = add_middleware(Recorder(redis_url))
    yield m
    remove_middleware(m)


def hooks(url: str) -> list[list[Any]]:
    """The recorded hooks, pid left out."""
    return [item[:-1] for item in recorded(url)]


def test_each_hook_sees_the_job_in_order_with_a_worker_thread(
    conn: Connection, q: Queue, redis_url: str, recorder: Recorder, quick_worker: Callable[..., Worker]
) -> None:
    quick_worker(imports=["hook_tasks"])
    job = q.enqueue(hook_tasks.double, 21)
    assert job.wait(timeout=30) == 42
    assert hooks(redis_url) == [
        ["before_enqueue", "default", "hook_tasks:double"],
        ["after_enqueue", job.id],
        ["before_run", job.id, 1, {"recorded": "yes"}, job.id],  # current_job() is set
        ["after_run", job.id, 1, "succeeded", 42, None],
    ]


def test_a_batch_runs_every_before_enqueue_before_it_is_written(
    conn: Connection, q: Queue, redis_url: str, recorder: Recorder
) -> None:
    jobs = q.enqueue_many([(hook_tasks.double, (i,), {}) for i in range(3)])
    names = [h[0] for h in hooks(redis_url)]
    assert names == ["before_enqueue"] * 3 + ["after_enqueue"] * 3
    assert [h[1] for h in hooks(redis_url)[3:]] == [j.id for j in jobs]


def test_async_job_runs_inside_the_hooks(
    conn: Connection, q: Queue, redis_url: str, recorder: Recorder, quick_worker: Callable[..., Worker]
) -> None:
    quick_worker(imports=["hook_tasks"])
    job = q.enqueue(hook_tasks.adouble, 4)
    assert job.wait(timeout=30) == 8
    assert hooks(redis_url)[-1] == ["after_run", job.id, 1, "succeeded", 8, None]


def test_retries_call_on_failure_after_run_and_on_retry_for_each_failed_attempt(
    conn: Connection, redis_url: str, recorder: Recorder, quick_worker: Callable[..., Worker]
) -> None:
    q = Queue("default", conn)
    q.declare(retry=RetryPolicy(retries=2, backoff=0.02, backoff_max=0.02))
    quick_worker(imports=["hook_tasks"])
    job = q.enqueue(hook_tasks.fail_until, 3)
    assert job.wait(timeout=30) == 3
    seen = hooks(redis_url)[2:]  # after the enqueue's two
    assert [(h[0], h[2]) for h in seen] == [
        ("before_run", 1), ("on_failure", 1), ("after_run", 1), ("on_retry", 1),
        ("before_run", 2), ("on_failure", 2), ("after_run", 2), ("on_retry", 2),
        ("before_run", 3), ("after_run", 3),
    ]  # fmt: skip
    retry = seen[3]
    assert retry[3:5] == ["ValueError", "attempt 1 fails"]
    assert 0.01 <= retry[5] <= 0.02  # the policy's delay, in seconds (equal jitter)
    assert retry[6] == {"recorded": "yes"}
    assert seen[2][3:] == ["failed", None, "ValueError"]


def test_the_last_failed_attempt_gets_no_on_retry(
    conn: Connection, redis_url: str, recorder: Recorder, quick_worker: Callable[..., Worker]
) -> None:
    q = Queue("default", conn)
    q.declare(retry=RetryPolicy(retries=1, backoff=0.01))
    quick_worker(imports=["hook_tasks"])
    job = q.enqueue(hook_tasks.fail_until, 5)
    with pytest.raises(JobFailed, match="attempt 2 fails"):
        job.wait(timeout=30)
    assert [h[0] for h in hooks(redis_url) if h[0] == "on_retry"] == ["on_retry"]
    assert hooks(redis_url)[-1][:4] == ["after_run", job.id, 2, "failed"]


class Gate(Middleware):
    """Refuses to run jobs of one function; refuses to enqueue to one queue."""

    def before_enqueue(self, call: Any) -> None:
        if call.queue == "closed":
            raise PermissionError("queue 'closed' takes no jobs")

    def before_run(self, ctx: RunContext) -> None:
        if ctx.function == "hook_tasks:double":
            raise PermissionError("double is not allowed here")


def test_before_run_that_raises_fails_the_job_without_calling_it(
    conn: Connection, q: Queue, redis_url: str, quick_worker: Callable[..., Worker]
) -> None:
    add_middleware(Gate())
    recorder = add_middleware(Recorder(redis_url))  # after Gate: never entered
    quick_worker(imports=["hook_tasks"])
    job = q.enqueue(hook_tasks.double, 1)
    with pytest.raises(JobFailed, match="PermissionError: double is not allowed here"):
        job.wait(timeout=30)
    assert [h[0] for h in hooks(redis_url)] == ["before_enqueue", "after_enqueue"]
    remove_middleware(recorder)


def test_before_enqueue_that_raises_writes_nothing(conn: Connection) -> None:
    closed = Queue("closed", conn)
    closed.declare()
    add_middleware(Gate())
    with pytest.raises(PermissionError, match="takes no jobs"):
        closed.enqueue_many([(hook_tasks.double, (1,), {}), (hook_tasks.double, (2,), {})])
    assert conn.redis.xlen(conn.keys.queue("closed").stream) == 0


def test_the_asyncio_client_runs_the_same_enqueue_hooks(
    conn: Connection, q: Queue, redis_url: str, recorder: Recorder, quick_worker: Callable[..., Worker]
) -> None:
    async def enqueue() -> str:
        async with aio.connect(redis_url) as rq:
            [job] = await rq.queue("default").enqueue_many([(hook_tasks.double, (6,), {})])
            return job.id

    job_id = asyncio.run(enqueue())
    quick_worker(imports=["hook_tasks"])
    assert q.job(job_id).wait(timeout=30) == 12
    assert hooks(redis_url)[:3] == [
        ["before_enqueue", "default", "hook_tasks:double"],
        ["after_enqueue", job_id],
        ["before_run", job_id, 1, {"recorded": "yes"}, job_id],
    ]


# -- worker processes ------------------------------------------------------------------


def test_a_worker_process_installs_middleware_its_import_modules_add(
    conn: Connection,
    q: Queue,
    redis_url: str,
    recorder: Recorder,
    worker_process: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The enqueuer's meta crosses to the worker process, whose own recorder runs the run hooks."""
    monkeypatch.setenv("RQUEUES_TEST_HOOKS_URL", redis_url)
    monkeypatch.setenv("RQUEUES_TEST_HOOKS_AT_IMPORT", "1")
    proc = worker_process("--import", "hook_tasks")
    job = q.enqueue(hook_tasks.double, 5)
    assert job.wait(timeout=30) == 10
    runs = [item for item in recorded(redis_url) if item[0].endswith("_run")]
    assert [r[0] for r in runs] == ["before_run", "after_run"]
    assert runs[0][3] == {"recorded": "yes"}
    pids = {r[-1] for r in runs}
    assert pids == {proc.process.pid} and os.getpid() not in pids


def test_worker_middleware_option_installs_it_and_passes_it_to_child_processes(
    conn: Connection,
    q: Queue,
    redis_url: str,
    worker_process: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RQUEUES_TEST_HOOKS_URL", redis_url)
    proc = worker_process("--import", "hook_tasks", "--middleware", "hook_tasks:Recorder")
    job = q.enqueue(hook_tasks.middleware_env)
    assert job.wait(timeout=30) == "hook_tasks:Recorder"  # what a child of the worker inherits
    runs = recorded(redis_url)
    assert [r[0] for r in runs] == ["before_run", "after_run"]
    assert runs[0][3] == {}  # this enqueuer had no middleware: an envelope without meta
    assert {r[-1] for r in runs} == {proc.process.pid}


def test_a_bad_middleware_option_stops_the_worker_with_a_clear_error(redis_url: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(TESTS)}
    cmd = [sys.executable, "-m", "rqueues.cli", "worker", "--redis-url", redis_url]
    cmd += ["--import", "hook_tasks", "--middleware", "hook_tasks:nothing_here", "--burst"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env, cwd=TESTS)
    assert proc.returncode != 0
    assert "module 'hook_tasks' has no 'nothing_here'" in proc.stderr


def test_a_process_given_only_the_environment_installs_the_middleware(
    conn: Connection, q: Queue, redis_url: str
) -> None:
    """What a child process started by a worker has: the job modules and the environment."""
    job = q.enqueue(hook_tasks.double, 8)
    code = (
        "import sys; from rqueues import Worker, connect; "
        "Worker(connect(sys.argv[1]), imports=['hook_tasks'], burst=True, refresh_seconds=0.1)"
        ".run(install_signals=False)"
    )
    env = {
        **os.environ,
        "PYTHONPATH": str(TESTS),
        ENV: "hook_tasks:Recorder",
        "RQUEUES_TEST_HOOKS_URL": redis_url,
    }
    env.pop("RQUEUES_TEST_HOOKS_AT_IMPORT", None)
    proc = subprocess.run(
        [sys.executable, "-c", code, redis_url],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=TESTS,
    )
    assert proc.returncode == 0, proc.stderr
    assert job.wait(timeout=5) == 16
    assert [r[0] for r in recorded(redis_url)] == ["before_run", "after_run"]
