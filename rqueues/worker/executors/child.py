"""A process-executor child: runs the jobs its parent sends, one at a time, until its pipe closes.

Started by ``multiprocessing`` (forkserver on Linux, else spawn: never a fork of the
threaded worker) with the worker's ``--import`` modules. The wire, one msgpack
frame per message (never pickle: the payload came from Redis):

- parent -> child: ``[job_id, queue, function, payload, options, attempts,
  default_timeout, env, gpus]``, the job to run;
- child -> parent: ``["msg", kind, data]`` for each JobContext._report while the job
  runs, then ``["done", state, blob, reason, exception_names, permanent]``.

The child never outlives its worker: it exits when its pipe closes (the worker's end
of it closed, or the worker died), idle or in the middle of a job (a thread watches
the pipe twice a second; a job holding the GIL delays it until the call returns).
It ignores SIGINT (a Ctrl-C in the terminal is the worker's to handle); SIGTERM
ends its job with SystemExit, then the child.
"""

from __future__ import annotations

import multiprocessing
import os
import select
import signal
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from multiprocessing.connection import Connection
from typing import Any

from ...codec import pack, unpack
from ...functions import FunctionRegistry
from ..execution import Claimed, Outcome, run_job


def serve(conn: Connection, imports: list[str], max_result_bytes: int) -> None:
    """The child's main loop (its process target)."""
    # Jobs may start processes of their own: this one is daemonic only to the worker's
    # multiprocessing, which terminates daemonic children when the worker exits.
    multiprocessing.current_process().daemon = False
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    terminated = threading.Event()

    def on_term(signum: int, frame: Any) -> None:
        terminated.set()
        raise SystemExit("terminated by the worker")

    signal.signal(signal.SIGTERM, on_term)
    busy = threading.Event()  # a job runs: the worker sends nothing until its outcome
    _watch_parent(conn, busy)
    functions = FunctionRegistry(imports)
    lock = threading.Lock()
    while not terminated.is_set():
        try:
            frame = conn.recv_bytes()
        except (EOFError, OSError):
            return  # the worker closed our pipe (or died): nothing more to run
        busy.set()
        job = _job(unpack(frame))

        def report(kind: str, data: Any, job: Claimed = job) -> None:
            blob = pack(["msg", kind, data])  # raises for data msgpack cannot carry, in the job
            with lock:
                conn.send_bytes(blob)

        with _environment(job.env):
            outcome = run_job(job, functions, max_result_bytes, report)
        with lock:
            busy.clear()  # first: the worker may send the next job as soon as it reads this
            conn.send_bytes(_done(outcome))


def _job(item: list[Any]) -> Claimed:
    job_id, queue, function, payload, options, attempts, default_timeout, env, gpus = item
    job = Claimed(queue, "", job_id, function, payload, attempts, options or {}, 0)
    job.default_timeout = default_timeout
    job.env = dict(env or {})
    job.gpus = tuple(gpus or ())  # current_job().gpus in the child too
    return job


def _done(outcome: Outcome) -> bytes:
    return pack(
        [
            "done",
            outcome.state,
            outcome.blob,
            outcome.reason,
            list(outcome.exception_names),
            outcome.permanent,
        ]
    )


@contextmanager
def _environment(env: Mapping[str, str]) -> Iterator[None]:
    """``env`` set in os.environ for the length of one job, the previous values restored after."""
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _watch_parent(conn: Connection, busy: threading.Event) -> None:
    """Exit when the worker is gone, even in the middle of a job.

    With forkserver the child's parent process is the fork server, which outlives
    the worker while children hold it open, so the parent pid tells nothing: the
    pipe does. The worker sends nothing while a job runs, so a pipe that turns
    readable then (or hangs up) means the worker's end closed.
    """
    parent = os.getppid()
    poller = select.poll()
    poller.register(conn.fileno(), select.POLLIN | select.POLLHUP | getattr(select, "POLLRDHUP", 0))

    def watch() -> None:
        while os.getppid() == parent:
            if poller.poll(500) and busy.is_set() and poller.poll(0):
                break  # re-polled once busy: the frame of the job it runs was read before
            if not busy.is_set():
                time.sleep(0.05)  # idle: the main thread reads what arrived, or sees EOF itself
        os._exit(1)

    threading.Thread(target=watch, name="rqueues-parent-watch", daemon=True).start()
