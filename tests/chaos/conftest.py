"""Pools of real worker processes for the chaos tests, and the figures those tests collect."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from rqueues import Connection
from rqueues.quickstart.embedded import EmbeddedServer

TESTS = Path(__file__).parent.parent


@dataclass
class Spawn:
    """One worker process a pool started."""

    slot: int
    worker_id: str
    process: subprocess.Popen[bytes]
    log_path: Path


class Pool:
    """Worker processes (`rqueues worker --import tasks`) in numbered slots.

    With ``restart``, a watcher thread per slot waits for its process to exit and
    starts a replacement (a new worker id), at most ``max_restarts`` times per pool.
    """

    def __init__(
        self,
        url: str,
        args: list[str],
        log_dir: Path,
        restart: bool,
        max_restarts: int,
        command: list[str] | None = None,
    ) -> None:
        self.url = url
        self.args = args
        self.command = command or ["-m", "rqueues.cli", "worker"]
        self.log_dir = log_dir
        self.restart = restart
        self.max_restarts = max_restarts
        self.spawns: list[Spawn] = []
        self.current: dict[int, Spawn] = {}
        self.kills: dict[int, float] = {}  # pid -> time.time() just before its SIGKILL
        self.restarts = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._watchers: list[threading.Thread] = []

    def start(self, count: int, conn: Connection, timeout: float = 20.0) -> Pool:
        for _ in range(count):
            slot = len(self.current)
            self.current[slot] = self._spawn(slot)
        self.wait_registered(conn, timeout)
        if self.restart:
            for slot in list(self.current):
                watcher = threading.Thread(target=self._watch, args=(slot,), daemon=True)
                watcher.start()
                self._watchers.append(watcher)
        return self

    def _spawn(self, slot: int) -> Spawn:
        worker_id = f"chaos-{slot}-{len(self.spawns)}-{os.urandom(2).hex()}"
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(TESTS), env.get("PYTHONPATH")) if p)
        cmd = [sys.executable, *self.command, "--redis-url", self.url]
        cmd += ["--worker-id", worker_id, "--import", "tasks", *self.args]
        log_path = self.log_dir / f"{worker_id}.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, cwd=TESTS
            )
        spawn = Spawn(slot, worker_id, process, log_path)
        self.spawns.append(spawn)
        return spawn

    def _watch(self, slot: int) -> None:
        while not self._stopping.is_set():
            spawn = self.current[slot]
            spawn.process.wait()  # the event: this worker exited
            with self._lock:
                if self._stopping.is_set() or self.restarts >= self.max_restarts:
                    return
                self.restarts += 1
                self.current[slot] = self._spawn(slot)

    def wait_registered(self, conn: Connection, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for spawn in list(self.current.values()):
            while conn.redis.zscore(conn.keys.workers, spawn.worker_id) is None:
                if spawn.process.poll() is not None:
                    raise AssertionError(f"worker exited with {spawn.process.returncode}:\n{self.tail()}")
                if time.monotonic() >= deadline:
                    raise AssertionError(f"worker not registered after {timeout}s:\n{self.tail()}")
                time.sleep(0.01)

    def kill(self, slot: int) -> int:
        """kill -9 the slot's current process; returns its pid."""
        with self._lock:
            process = self.current[slot].process
            self.kills[process.pid] = time.time()
            process.send_signal(signal.SIGKILL)
            return process.pid

    def signal(self, slot: int, signum: int) -> float:
        """Send a signal; returns time.time() just before it was sent."""
        at = time.time()
        self.current[slot].process.send_signal(signum)
        return at

    def live_ids(self) -> set[str]:
        with self._lock:
            return {s.worker_id for s in self.current.values() if s.process.poll() is None}

    def exits(self) -> list[tuple[str, int | None]]:
        """(worker id, exit code) of every process that has exited."""
        return [(s.worker_id, s.process.poll()) for s in self.spawns if s.process.poll() is not None]

    def tail(self, lines: int = 15) -> str:
        out = []
        for spawn in self.spawns:
            text = spawn.log_path.read_text(errors="replace").splitlines() if spawn.log_path.exists() else []
            out.append(f"--- {spawn.worker_id} (pid {spawn.process.pid}, exit {spawn.process.poll()})")
            out += text[-lines:]
        return "\n".join(out)

    def output(self, worker_id: str) -> str:
        spawn = next(s for s in self.spawns if s.worker_id == worker_id)
        return spawn.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM every live worker (they drain in parallel), SIGKILL what outlives ``timeout``."""
        with self._lock:
            self._stopping.set()
        live = [s.process for s in self.spawns if s.process.poll() is None]
        for process in live:
            process.terminate()
        deadline = time.monotonic() + timeout
        for process in live:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        for watcher in self._watchers:
            watcher.join(5)


@pytest.fixture
def pools(tmp_path: Path) -> Iterator[Callable[..., Pool]]:
    """pools(url, conn, count, *worker_args, restart=False, max_restarts=20, command=None): a started
    Pool; ``command`` replaces ``-m rqueues.cli worker`` (e.g. the short-lease worker of lease_worker.py)."""
    made: list[Pool] = []

    def make(
        url: str,
        conn: Connection,
        count: int,
        *args: str,
        restart: bool = False,
        max_restarts: int = 20,
        command: list[str] | None = None,
    ) -> Pool:
        pool = Pool(url, list(args), tmp_path, restart, max_restarts, command)
        made.append(pool)
        return pool.start(count, conn)

    yield make
    for pool in made:
        pool.stop()


@pytest.fixture
def aof_server(tmp_path: Path) -> Iterator[EmbeddedServer]:
    """A private Redis with AOF (appendfsync everysec) in its own directory, to kill and restart."""
    directory = tmp_path / "redis-aof"
    directory.mkdir()
    server = EmbeddedServer(appendonly=True, directory=str(directory)).start()
    yield server
    server.stop()


_FIGURES: dict[str, Any] = {}


@pytest.fixture(scope="session")
def chaos_figures() -> Iterator[dict[str, Any]]:
    """Figures the chaos tests measured; written as JSON at the end of the session."""
    yield _FIGURES
    if not _FIGURES:
        return
    path = os.environ.get("RQUEUES_CHAOS_SUMMARY") or os.path.join(
        tempfile.gettempdir(), f"rqueues-chaos-summary-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.json"
    )
    Path(path).write_text(json.dumps(_FIGURES, indent=2, sort_keys=True) + "\n")
    print(f"\nchaos figures written to {path}")
