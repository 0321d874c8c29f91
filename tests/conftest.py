"""Shared fixtures: one private Redis server per test session, flushed between tests."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from rqueues import Connection, Worker, connect
from rqueues.quickstart.embedded import EmbeddedServer

TESTS = Path(__file__).parent
sys.path.insert(0, str(TESTS))  # so workers can --import tasks


@pytest.fixture(scope="session")
def redis_server() -> Iterator[EmbeddedServer]:
    try:
        server = EmbeddedServer().start()
    except Exception as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"no Redis server available: {exc}")
    yield server
    server.cleanup()


@pytest.fixture
def redis_url(redis_server: EmbeddedServer) -> str:
    return redis_server.url


@pytest.fixture
def conn(redis_url: str) -> Iterator[Connection]:
    c = connect(redis_url)
    c.redis.flushall()
    yield c
    c.close()


class RunningWorker:
    """A Worker on a background thread, stopped at teardown."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.thread = threading.Thread(target=worker.run, kwargs={"install_signals": False}, daemon=True)

    def start(self) -> RunningWorker:
        self.thread.start()
        return self

    def stop(self, timeout: float = 10) -> None:
        self.worker.stop()
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "worker did not stop"


@pytest.fixture
def start_worker(conn: Connection) -> Iterator[object]:
    started: list[RunningWorker] = []

    def start(**kwargs: object) -> Worker:
        kwargs.setdefault("imports", ["tasks"])
        w = RunningWorker(Worker(conn, **kwargs)).start()  # type: ignore[arg-type]
        started.append(w)
        return w.worker

    yield start
    for w in started:
        w.stop()


# -- bounded waiting and worker processes ---------------------------------------


@pytest.fixture
def wait_until() -> Callable[..., Any]:
    """wait_until(predicate, timeout=10, what=...): poll a condition no event announces, with a deadline."""

    def wait(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() >= deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}")
            time.sleep(0.01)

    return wait


class WorkerProcess:
    """`rqueues worker --import tasks` in a child process; its log goes to a file for failure messages."""

    def __init__(self, url: str, worker_id: str, args: Sequence[str], log_path: Path) -> None:
        self.worker_id = worker_id
        self.log_path = log_path
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(TESTS), env.get("PYTHONPATH")) if p)
        cmd = [sys.executable, "-m", "rqueues.cli", "worker", "--redis-url", url]
        cmd += ["--worker-id", worker_id, "--import", "tasks", *args]
        with open(log_path, "wb") as log:
            self.process = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, cwd=TESTS
            )

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def wait(self, timeout: float) -> int:
        return self.process.wait(timeout)

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM, then SIGKILL if it does not exit in time; returns the exit code."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return self.process.returncode


@pytest.fixture
def worker_process(
    conn: Connection, redis_url: str, tmp_path: Path
) -> Iterator[Callable[..., WorkerProcess]]:
    """worker_process(*cli_args, ready=True): start a worker process; stopped at teardown.

    With ready=True, returns once the worker registered itself (it has read the
    declared queues by then).
    """
    started: list[WorkerProcess] = []

    def start(*args: str, ready: bool = True, timeout: float = 20.0) -> WorkerProcess:
        worker_id = f"proc-{len(started)}-{os.urandom(3).hex()}"
        proc = WorkerProcess(redis_url, worker_id, args, tmp_path / f"{worker_id}.log")
        started.append(proc)
        deadline = time.monotonic() + timeout
        while ready and conn.redis.zscore(conn.keys.workers, worker_id) is None:
            if proc.process.poll() is not None:
                raise AssertionError(f"worker exited with {proc.process.returncode}:\n{proc.output()}")
            if time.monotonic() >= deadline:
                raise AssertionError(f"worker not registered after {timeout}s:\n{proc.output()}")
            time.sleep(0.01)
        return proc

    yield start
    for proc in started:  # signal all first: they drain in parallel
        if proc.process.poll() is None:
            proc.process.terminate()
    for proc in started:
        proc.stop()


@pytest.fixture
def quick_worker(start_worker: Callable[..., Worker]) -> Callable[..., Worker]:
    """start_worker with a 0.1 s refresh: an idle dispatcher blocks at most that long, so
    teardown is quick. Not for tests about waiting or about the default refresh interval."""

    def start(**kwargs: Any) -> Worker:
        kwargs.setdefault("refresh_seconds", 0.1)
        return start_worker(**kwargs)

    return start


@pytest.fixture
def worker_thread(conn: Connection) -> Iterator[Callable[..., RunningWorker]]:
    """worker_thread(**kwargs): like start_worker, but returns the RunningWorker so a test can
    stop it (worker.stop(hard=...)) and join its thread itself. Stopped at teardown if still running."""
    started: list[RunningWorker] = []

    def start(**kwargs: Any) -> RunningWorker:
        kwargs.setdefault("imports", ["tasks"])
        kwargs.setdefault("refresh_seconds", 0.1)
        running = RunningWorker(Worker(conn, **kwargs)).start()
        started.append(running)
        return running

    yield start
    for running in started:
        if running.thread.is_alive():
            running.stop()
