"""`rqueues quickstart`: watch jobs flow through capped and tag-routed queues, with nothing to install.

It starts a private server (see embedded.py), declares three queues, starts
worker processes with and without the ``has=gpu`` tag, enqueues jobs that
sleep for a moment, shows progress, and ends with a summary computed from the
job records (summary.py). Everything it starts it stops again: on success, on
an error, on Ctrl-C, SIGTERM or SIGHUP.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from ..backend.store import Store
from ..connection import connect
from ..errors import RqueuesError
from ..job import TERMINAL
from ..observe.listing import list_workers
from ..queue import Queue, queue_infos
from ..record import JobRecord
from .embedded import EmbeddedServer
from .plan import (
    DEMO_MODULE,
    DEMO_QUEUES,
    GPU_TAG,
    REFRESH_SECONDS,
    WORKER_START_SECONDS,
    WORKER_STOP_SECONDS,
    QuickstartOptions,
    split_jobs,
    worker_tags,
)  # fmt: skip
from .summary import LineView, LiveView, QueueProgress, render_summary, summarize


class QuickstartError(RqueuesError):
    """A process the quick start started misbehaved (a worker exited or never came up)."""


@dataclass
class WorkerProcess:
    """A `rqueues worker` subprocess and where its log goes."""

    id: str
    tags: tuple[str, ...]
    process: subprocess.Popen[bytes]
    log: Path


class Session:
    """The server, the workers and the jobs of one quick start; close() stops them all."""

    def __init__(self, options: QuickstartOptions, out: TextIO) -> None:
        self.options = options
        self.out = out
        self.started = time.monotonic()
        self.server: EmbeddedServer | None = None
        self.conn: Store | None = None
        self.workers: list[WorkerProcess] = []
        self.tags_of: dict[str, tuple[str, ...]] = {}
        self.logs = tempfile.TemporaryDirectory(prefix="rqueues-quickstart-")

    def say(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def run(self, live: bool) -> int:
        """The whole quick start; returns the exit status (0: every job succeeded within its caps)."""
        conn = self.start_server()
        self.declare(conn)
        self.start_workers(conn)
        jobs = self.enqueue(conn)
        self.watch(conn, jobs, live)
        self.stop_workers()
        records = self.records(conn, jobs)
        summary = summarize(DEMO_QUEUES, jobs, records, self.tags_of)
        elapsed = time.monotonic() - self.started
        for line in render_summary(summary, self.tags_of, elapsed, [w.id for w in self.workers]):
            self.say(line)
        return 1 if summary.problems else 0

    def start_server(self) -> Store:
        self.server = EmbeddedServer(new_session=True)
        self.server.start()
        self.conn = conn = connect(self.server.url)
        info = conn.redis.info("server")
        kind = "valkey" if "valkey_version" in info else "redis"
        version = info.get(f"{kind}_version", info.get("redis_version", "?"))
        pid = self.server.process.pid if self.server.process else "?"
        self.say("rqueues quickstart")
        self.say(f"  server   {kind} {version} at {self.server.url} (pid {pid})")
        self.say(f"  binary   {self.server.binary}")
        return conn

    def declare(self, conn: Store) -> None:
        for q in DEMO_QUEUES:
            Queue(q.name, conn).declare(concurrency=q.concurrency, tags=q.tags)
            limit = f"concurrency {q.concurrency}" if q.concurrency else "unlimited"
            where = f"only on workers tagged {', '.join(q.tags)}" if q.tags else "on any worker"
            self.say(f"  queue    {q.name:<8} {limit}, {where}")

    def start_workers(self, conn: Store) -> None:
        assert self.server is not None
        for i in range(self.options.workers):
            wid, tags = f"w{i + 1}", worker_tags(i)
            log = Path(self.logs.name) / f"{wid}.log"
            cmd = [sys.executable, "-m", "rqueues.cli", "worker", "--redis-url", self.server.url]
            cmd += [
                "--import",
                DEMO_MODULE,
                "--worker-id",
                wid,
                "--concurrency",
                str(self.options.concurrency),
            ]
            cmd += [arg for tag in tags for arg in ("--tags", tag)]
            with open(log, "wb") as sink:
                # Its own session: the terminal's Ctrl-C comes to us, and we stop workers in order.
                proc = subprocess.Popen(
                    cmd,
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
            self.workers.append(WorkerProcess(wid, tags, proc, log))
            self.tags_of[wid] = tags
            shown = ", ".join(tags) or "-"
            self.say(f"  worker   {wid:<8} pid {proc.pid}, tags {shown}, {self.options.concurrency} slots")
        self.wait_registered(conn)
        self.say("")
        self.say("Other workers can join while it runs, e.g. from another terminal:")
        self.say(f"  rqueues worker --redis-url {self.server.url} --import {DEMO_MODULE} --tags {GPU_TAG}")
        self.say("")

    def wait_registered(self, conn: Store) -> None:
        """Poll the worker registry until every worker has sent its first heartbeat."""
        want = {w.id for w in self.workers}
        deadline = time.monotonic() + WORKER_START_SECONDS
        while True:
            self.check_workers()
            missing = want - {w.id for w in list_workers(conn)}
            if not missing:
                return
            if time.monotonic() > deadline:
                raise QuickstartError(
                    f"worker(s) {', '.join(sorted(missing))} did not start within {WORKER_START_SECONDS:g}s"
                    + "".join(self.log_tail(w) for w in self.workers if w.id in missing)
                )
            time.sleep(0.05)

    def enqueue(self, conn: Store) -> dict[str, list[str]]:
        rng = random.Random(self.options.seed)
        jobs: dict[str, list[str]] = {}
        parts = []
        for q, count in zip(DEMO_QUEUES, split_jobs(self.options.jobs), strict=True):
            calls: list[tuple[Any, ...]] = [
                (q.function, (round(rng.uniform(*q.seconds), 2),), {}) for _ in range(count)
            ]
            jobs[q.name] = [j.id for j in Queue(q.name, conn).enqueue_many(calls)]
            parts.append(f"{count} on {q.name} ({q.seconds[0]:g}-{q.seconds[1]:g}s each)")
        self.say(f"Enqueued {self.options.jobs} jobs: {', '.join(parts)}.")
        return jobs

    def watch(self, conn: Store, jobs: Mapping[str, Sequence[str]], live: bool) -> None:
        """Show progress until every job has finished or the timeout passes."""
        view: LineView | LiveView = (
            LiveView(self.out, f"{len(self.workers)} workers; Ctrl-C stops everything")
            if live
            else LineView(self.out)
        )
        begin = time.monotonic()
        deadline = begin + self.options.timeout
        while True:
            self.check_workers()
            progress = self.progress(conn, jobs)
            self.note_worker_tags(conn)
            done = all(p.finished for p in progress)
            timed_out = time.monotonic() >= deadline
            view.show(progress, time.monotonic() - begin, done or timed_out)
            if timed_out and not done:
                self.say(f"Gave up waiting after {self.options.timeout:g}s (--timeout).")
            if done or timed_out:
                return
            time.sleep(REFRESH_SECONDS)

    def progress(self, conn: Store, jobs: Mapping[str, Sequence[str]]) -> list[QueueProgress]:
        """Finished jobs from the records, running ones from the leases, the rest is waiting."""
        pipe = conn.redis.pipeline(transaction=False)
        for q in DEMO_QUEUES:
            keys = conn.keys.queue(q.name)
            for job_id in jobs[q.name]:
                pipe.hget(keys.job(job_id), "state")
        states = iter(pipe.execute())
        leases = {i.name: i.running for i in queue_infos(conn, [q.name for q in DEMO_QUEUES])}
        out = []
        for q in DEMO_QUEUES:
            total = len(jobs[q.name])
            count = Counter((next(states) or b"").decode() for _ in range(total))
            done = count["succeeded"]
            failed = sum(n for s, n in count.items() if s in TERMINAL and s != "succeeded")
            # A lease is taken a moment before the record says running: count by leases.
            running = leases[q.name]
            queued = max(0, total - done - failed - running)
            out.append(QueueProgress(q.name, q.concurrency, q.tags, total, queued, running, done, failed))
        return out

    def note_worker_tags(self, conn: Store) -> None:
        """Remember the tags of workers that joined from elsewhere, for the routing check."""
        for w in list_workers(conn):
            if w.id not in self.tags_of:
                self.tags_of[w.id] = tuple(w.info.get("tags") or ())

    def records(self, conn: Store, jobs: Mapping[str, Sequence[str]]) -> dict[str, JobRecord]:
        pipe = conn.redis.pipeline(transaction=False)
        pairs = [(name, job_id) for name, ids in jobs.items() for job_id in ids]
        for name, job_id in pairs:
            pipe.hgetall(conn.keys.queue(name).job(job_id))
        return {
            job_id: JobRecord.from_hash(name, job_id, raw)
            for (name, job_id), raw in zip(pairs, pipe.execute(), strict=True)
            if raw
        }

    def check_workers(self) -> None:
        for w in self.workers:
            code = w.process.poll()
            if code is not None:
                raise QuickstartError(f"worker {w.id} exited early with status {code}" + self.log_tail(w))

    def log_tail(self, worker: WorkerProcess, lines: int = 15) -> str:
        try:
            text = worker.log.read_text(errors="replace").rstrip().splitlines()[-lines:]
        except OSError:
            return ""
        return f"\n--- last lines of worker {worker.id}'s log ---\n" + "\n".join(text)

    def stop_workers(self, grace: float = WORKER_STOP_SECONDS) -> None:
        """SIGTERM every worker (running jobs finish first), wait, and kill any still there after grace."""
        alive = [w for w in self.workers if w.process.poll() is None]
        for w in alive:
            w.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for w in alive:
            try:
                w.process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.say(f"worker {w.id} did not stop within {grace:g}s: killing it")
                w.process.kill()
                w.process.wait()

    def kill_workers(self) -> None:
        for w in self.workers:
            if w.process.poll() is None:
                w.process.kill()

    def close(self) -> None:
        """Stop the workers, then the server, then remove the logs; safe to call after any failure."""
        try:
            self.stop_workers()
        finally:
            if self.conn is not None:
                self.conn.close()
            if self.server is not None:
                self.server.cleanup()
            self.logs.cleanup()
        if self.conn is not None:  # the server had started
            pids = ", ".join(str(w.process.pid) for w in self.workers) or "none"
            self.say(f"Stopped the server and {len(self.workers)} worker(s) (pids {pids}).")


@contextlib.contextmanager
def _signals(handler: Callable[[int, Any], None], signums: Iterable[int]) -> Iterator[None]:
    """Install ``handler`` for the given signals (main thread only) and restore the old ones after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, handler) for s in signums}
    try:
        yield
    finally:
        for s, old in previous.items():
            signal.signal(s, old)


def run(options: QuickstartOptions | None = None, out: TextIO | None = None) -> int:
    """Run the quick start and return its exit status: 0 ok, 1 a problem, 130 interrupted."""
    options = options or QuickstartOptions()
    stream = out or sys.stdout
    live = options.live
    if live is None:
        live = stream.isatty() and os.environ.get("TERM", "") != "dumb"
    session = Session(options, stream)
    closing = False

    def on_signal(signum: int, frame: Any) -> None:
        # First Ctrl-C, SIGTERM or SIGHUP: end the run and stop everything in order.
        # Another one while stopping: kill the workers instead of waiting for their jobs.
        if closing:
            session.kill_workers()
        else:
            raise KeyboardInterrupt

    with _signals(on_signal, (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)):
        try:
            return session.run(live)
        except KeyboardInterrupt:
            session.say(
                "\nInterrupted: stopping the workers (their running jobs finish first), then the server."
            )
            return 130
        finally:
            closing = True
            session.close()
