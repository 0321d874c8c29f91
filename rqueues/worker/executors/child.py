"""A process-executor child: runs the jobs its parent sends, one at a time, until its pipe closes.

Started by ``multiprocessing`` (forkserver on Linux, else spawn: never a fork of the
threaded worker) with the worker's ``--import`` modules. The wire, one msgpack
frame per message (never pickle: the payload came from Redis):

- parent -> child: ``[job_id, queue, function, payload, options, attempts,
  default_timeout, env]``, the job to run;
- child -> parent: ``["msg", kind, data]`` for each JobContext._report while the job
  runs, then ``["done", state, blob, reason, exception_names, permanent]``.

The child never outlives its worker: it exits when its pipe closes (the worker's end
of it closed or the worker died), when its parent process changes (checked by a
thread every second) and, on Linux, at once when its parent dies (PR_SET_PDEATHSIG).
It ignores SIGINT (a Ctrl-C in the terminal is the worker's to handle); SIGTERM
ends its job with SystemExit, then the child.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from multiprocessing.connection import Connection
from typing import Any

from ...codec import pack, unpack
from ...functions import FunctionRegistry
from ..execution import Claimed, Outcome, run_job

PR_SET_PDEATHSIG = 1


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
    _die_with_parent()
    functions = FunctionRegistry(imports)
    lock = threading.Lock()
    while not terminated.is_set():
        try:
            frame = conn.recv_bytes()
        except (EOFError, OSError):
            return  # the worker closed our pipe (or died): nothing more to run
        job = _job(unpack(frame))

        def report(kind: str, data: Any, job: Claimed = job) -> None:
            blob = pack(["msg", kind, data])  # raises for data msgpack cannot carry, in the job
            with lock:
                conn.send_bytes(blob)

        with _environment(job.env):
            outcome = run_job(job, functions, max_result_bytes, report)
        with lock:
            conn.send_bytes(_done(outcome))


def _job(item: list[Any]) -> Claimed:
    job_id, queue, function, payload, options, attempts, default_timeout, env = item
    job = Claimed(queue, "", job_id, function, payload, attempts, options or {}, 0)
    job.default_timeout = default_timeout
    job.env = dict(env or {})
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


def _die_with_parent() -> None:
    parent = os.getppid()
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        except (OSError, AttributeError):
            pass  # the watch below still ends the child within a second or so
    if os.getppid() != parent:  # the parent died before the signal was asked for
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="rqueues-parent-watch", daemon=True).start()
