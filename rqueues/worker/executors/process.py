"""The process executor: each job runs in a child process, which the worker can kill.

Children are started lazily, up to as many as process jobs run at once, with the
worker's ``--import`` modules (child.py), and each runs one job at a time. For each
running job a small thread of the worker sends it to its child over a pipe and
waits for the outcome, passing the job's messages on meanwhile. The heartbeat stays
in the worker: a job that holds the GIL in C code in its child never makes the
worker look dead. That thread kills the child (SIGTERM, then SIGKILL after
CHILD_KILL_GRACE seconds) and records the job as failed when:

- the job runs past its timeout (its own, else its queue's): JobTimeout;
- the child's resident memory passes the queue's ``max_memory_per_child`` MB,
  sampled every CHILD_SAMPLE_SECONDS from /proc: JobOutOfMemory;
- ``rqueues stop`` asked for the job (it ends cancelled), its delivery was taken
  from the worker (invariant 7: its outcome is discarded), or the worker stops hard.

A child that dies on its own (a signal from outside, a crash, the kernel's OOM
killer) fails its job once with ChildDied naming the pid and the signal; the
queue's retry policy then retries or fails it, and a new child takes its place.
A child is replaced after ``max_jobs_per_child`` jobs of its queue.

Each replaced child is reported through ``on_replaced(reason)`` (the worker's
observer: metrics count it), reason one of REPLACED.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection, wait
from multiprocessing.context import BaseContext
from typing import Any

from ... import defaults
from ...codec import pack, unpack
from ...config import QueueConfig
from ...errors import ChildDied, JobOutOfMemory, JobTimeout
from ...retry import exception_names
from ..execution import Claimed, Outcome, failure
from ..settle import unsettled
from . import child as child_module
from .base import OnDone, OnMessage

log = logging.getLogger("rqueues.worker")

try:
    PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
except (ValueError, OSError, AttributeError):
    PAGE_BYTES = 4096


#: Why a child is replaced: after max_jobs_per_child jobs; dead on its own; killed by the
#: worker at its job's timeout, past its memory limit, or for a stop or a lost delivery.
REPLACED = ("recycled", "died", "killed_timeout", "killed_memory", "stopped")
#: Why the worker killed a child, by the error its job was recorded with (else "stopped").
_KILLED = {"JobTimeout": "killed_timeout", "JobOutOfMemory": "killed_memory"}


class Stopped(Exception):
    """The job's child was killed because the job was asked to stop or is no longer ours."""


def context() -> BaseContext:
    """forkserver where there is one (it forks children from a clean single-threaded
    process, quickly), else spawn; never fork, which would copy the worker's threads' locks."""
    if sys.platform.startswith("linux"):
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload([child_module.__name__])
        return ctx
    return multiprocessing.get_context("spawn")


def rss_mb(pid: int) -> float | None:
    """Resident memory of process ``pid`` in MB, or None where /proc cannot tell."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as statm:
            return int(statm.read().split()[1]) * PAGE_BYTES / (1024 * 1024)
    except (OSError, ValueError, IndexError):
        return None


def describe_exit(pid: int, code: int | None) -> str:
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = "an unknown signal"
        return f"worker child pid {pid} died with signal {-code} ({name})"
    return f"worker child pid {pid} exited with code {code}"


class Child:
    """One child process and the worker's end of its pipe."""

    def __init__(self, ctx: BaseContext, imports: list[str], max_result_bytes: int) -> None:
        ours, theirs = ctx.Pipe()
        self.process: Any = ctx.Process(  # type: ignore[attr-defined]
            target=child_module.serve,
            args=(theirs, imports, max_result_bytes),
            name="rqueues-child",
            daemon=True,
        )
        self.process.start()
        theirs.close()  # only the child holds its end: its death is our EOF
        self.conn: Connection = ours
        self.pid: int = self.process.pid
        self.jobs = 0
        self.killed = ""  # why the worker killed it: killed_timeout, killed_memory, stopped

    def alive(self) -> bool:
        return bool(self.process.is_alive())

    def kill(self, grace: float = defaults.CHILD_KILL_GRACE) -> None:
        """SIGTERM, SIGKILL if it has not exited within ``grace`` seconds; then reap it."""
        if self.process.exitcode is None:
            try:
                self.process.terminate()
            except OSError:
                pass
            self.process.join(grace)
            if self.process.exitcode is None:
                self.process.kill()
        self.close()

    def close(self) -> None:
        """Close our end of the pipe (an idle child then exits) and reap the process."""
        try:
            self.conn.close()
        except OSError:
            pass
        self.process.join(5.0)
        if self.process.exitcode is None:
            self.process.kill()
            self.process.join(5.0)


class ProcessExecutor:
    def __init__(
        self,
        imports: list[str],
        on_done: OnDone,
        on_message: OnMessage,
        max_result_bytes: int = defaults.MAX_RESULT_BYTES,
        kill_grace: float = defaults.CHILD_KILL_GRACE,
        sample_seconds: float = defaults.CHILD_SAMPLE_SECONDS,
        on_replaced: Callable[[str], None] | None = None,
    ) -> None:
        self._imports = list(imports)
        self._on_done = on_done
        self._on_message = on_message
        self._max_result_bytes = max_result_bytes
        self._kill_grace = kill_grace
        self._sample = sample_seconds
        self._on_replaced = on_replaced
        self._ctx: BaseContext | None = None
        self._lock = threading.Lock()
        self._idle: list[Child] = []
        self._busy: dict[int, Child] = {}  # pid -> child
        self._threads: set[threading.Thread] = set()
        self._abandoned = False
        self.started = 0  # children started, for tests and metrics
        self.replaced: dict[str, int] = {}  # children replaced, by reason

    def start(self) -> None:
        """Nothing until the first job: a worker with no process queue starts no child."""

    def submit(self, job: Claimed, config: QueueConfig | None = None) -> None:
        thread = threading.Thread(
            target=self._serve, args=(job, config), name="rqueues-child-wait", daemon=True
        )
        with self._lock:
            self._threads.add(thread)
        thread.start()

    def children(self) -> list[int]:
        """Pids of the live children, idle or busy."""
        with self._lock:
            return [c.pid for c in [*self._idle, *self._busy.values()]]

    # -- one job ---------------------------------------------------------------

    def _serve(self, job: Claimed, config: QueueConfig | None) -> None:
        try:
            outcome = self._run(job, config)
        except BaseException as exc:  # never leave a job without an outcome
            log.exception("process executor failed to run job %s", job.job_id)
            outcome = unsettled(job, exc)
        finally:
            with self._lock:
                self._threads.discard(threading.current_thread())
        if self._abandoned:
            return  # handed back by the stopping worker
        try:
            self._on_done(outcome)
        except Exception:
            log.exception("process executor failed to finish job %s", job.job_id)

    def _run(self, job: Claimed, config: QueueConfig | None) -> Outcome:
        child = self._acquire()
        frame = pack(
            [job.job_id, job.queue, job.function, job.payload, job.options, job.attempts,
             job.default_timeout, job.env, list(job.gpus)]
        )  # fmt: skip
        try:
            child.conn.send_bytes(frame)
        except OSError:  # it died while idle: a new child runs the job
            self._retire(child, "died")
            child = self._acquire()
            child.conn.send_bytes(frame)
        limit_mb = config.max_memory_per_child if config else 0
        outcome = self._wait(job, child, limit_mb)
        child.jobs += 1
        per_child = config.max_jobs_per_child if config else 0
        if child.killed or not child.alive():
            self._retire(child, child.killed or "died")
        elif per_child and child.jobs >= per_child:
            self._retire(child, "recycled")
        elif limit_mb and (rss_mb(child.pid) or 0) > limit_mb:
            self._retire(child, "killed_memory")  # grown past the limit between samples, or leaked
        else:
            self._release(child)
        return outcome

    def _wait(self, job: Claimed, child: Child, limit_mb: int) -> Outcome:
        """The job's outcome from its child; kills the child when the job must end now."""
        timeout = job.timeout
        deadline = job.started + timeout if timeout is not None else None
        while True:
            pause = self._sample
            if deadline is not None:
                pause = max(0.0, min(pause, deadline - time.monotonic()))
            ready = wait([child.conn, child.process.sentinel], pause)
            if child.conn in ready:
                try:
                    message = unpack(child.conn.recv_bytes())
                except (EOFError, OSError):
                    return self._died(job, child)
                if message[0] == "msg":
                    self._message(job, message[1], message[2])
                    continue
                _, state, blob, reason, names, permanent = message
                return Outcome(job, state, blob, reason, tuple(names), permanent=permanent)
            if ready:  # the sentinel alone: it exited without a word
                return self._died(job, child)
            error = self._must_end(job, deadline, child, limit_mb)
            if error is not None:
                child.killed = _KILLED.get(type(error).__name__, "stopped")
                child.kill(self._kill_grace)
                log.warning("job %s: killed its child pid %d: %s", job.job_id, child.pid, error)
                return Outcome(job, "failed", failure(error), exception_names=exception_names(error))

    def _must_end(
        self, job: Claimed, deadline: float | None, child: Child, limit_mb: int
    ) -> BaseException | None:
        if job.stop_requested:
            return Stopped("stopped by request (rqueues stop): its child process was killed")
        if job.lost:
            return Stopped("its delivery was taken from this worker: its child process was killed")
        if deadline is not None and time.monotonic() >= deadline:
            return JobTimeout(f"killed after its timeout of {job.timeout:g}s")
        if job.cancel.is_set():
            return Stopped("cancelled by the worker: its child process was killed")
        if limit_mb:
            used = rss_mb(child.pid)
            if used is not None and used > limit_mb:
                return JobOutOfMemory(
                    f"its child process pid {child.pid} used {used:.0f} MB, past the queue's "
                    f"max_memory_per_child of {limit_mb} MB: killed"
                )
        return None

    def _died(self, job: Claimed, child: Child) -> Outcome:
        child.process.join(1.0)
        error = ChildDied(describe_exit(child.pid, child.process.exitcode) + " while running the job")
        log.warning("job %s: %s", job.job_id, error)
        return Outcome(job, "failed", failure(error), exception_names=exception_names(error))

    def _message(self, job: Claimed, kind: Any, data: Any) -> None:
        try:
            self._on_message(job, str(kind), data)
        except Exception:  # a handler's bug must not cost the job its outcome
            log.exception("job %s: handling its %r message failed", job.job_id, kind)

    # -- the pool ----------------------------------------------------------------

    def _acquire(self) -> Child:
        dead = 0
        try:
            with self._lock:
                while self._idle:
                    child = self._idle.pop()
                    if child.alive():
                        self._busy[child.pid] = child
                        return child
                    dead += 1
                    threading.Thread(target=child.close, daemon=True).start()
                if self._ctx is None:
                    self._ctx = context()
                ctx = self._ctx
        finally:
            for _ in range(dead):
                self._count("died")  # outside the lock: the observer runs code of its own
        child = Child(ctx, self._imports, self._max_result_bytes)
        with self._lock:
            self.started += 1
            self._busy[child.pid] = child
        log.debug("started child process pid %d", child.pid)
        return child

    def _release(self, child: Child) -> None:
        with self._lock:
            self._busy.pop(child.pid, None)
            if self._abandoned:
                threading.Thread(target=child.close, daemon=True).start()
            else:
                self._idle.append(child)

    def _retire(self, child: Child, reason: str) -> None:
        with self._lock:
            self._busy.pop(child.pid, None)
        if not self._abandoned:  # the children a stopping worker kills are not replaced
            self._count(reason)
        log.info("child process pid %d replaced (%s) after %d job(s)", child.pid, reason, child.jobs)
        threading.Thread(target=child.close, name="rqueues-child-close", daemon=True).start()

    def _count(self, reason: str) -> None:
        with self._lock:
            self.replaced[reason] = self.replaced.get(reason, 0) + 1
        if self._on_replaced is not None:
            try:
                self._on_replaced(reason)
            except Exception:  # an observer's bug must not cost the job its outcome
                log.exception("reporting a replaced child (%s) failed", reason)

    # -- shutdown ----------------------------------------------------------------

    def abandon(self) -> None:
        """Kill the busy children at once (their jobs are being handed back); report nothing."""
        self._abandoned = True
        with self._lock:
            busy = list(self._busy.values())
        for child in busy:
            child.kill(grace=0.0)

    def stop(self, timeout: float | None = None) -> None:
        """Let running jobs finish for ``timeout`` (None: as long as they take), then kill
        every child; no child outlives the worker."""
        with self._lock:
            threads = list(self._threads)
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in threads:
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        self._abandoned = True
        with self._lock:
            idle, busy = list(self._idle), list(self._busy.values())
            self._idle.clear()
        for child in busy:
            child.kill(grace=0.0)
        for child in idle:
            child.close()  # its pipe closes: it exits
