"""`rqueues top`: a live view of queues and workers, redrawn every second.

Rates and the p95 wait come from the differences between snapshots of the
queues' stats counters (stats.py) over a sliding window; `rqueues info` shows
the same from two snapshots a moment apart.
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

import redis

from ..backend.deliveries import jobs_of
from ..backend.store import Store
from ..errors import RqueuesError
from ..liveness import DEAD_AFTER
from .listing import gpus_text
from .snapshot import QueueView, Snapshot, read_snapshot
from .stats import QueueStats
from .table import fit, table

FAILURES = ("failed", "dead")
QUEUE_COLUMNS = (
    "queue", "limit", "in_use", "waiting", "sched", "dead", "stalled",
    "ok/s", "fail/s", "p95_wait", "oldest", "executor", "state",
)  # fmt: skip
WORKER_COLUMNS = ("worker", "host", "tags", "queues", "run/slots", "beat", "running", "gpus")
#: On a narrow terminal these columns go first (left to right) so the state stays in view.
QUEUE_DROP = ("executor", "stalled", "sched", "oldest", "fail/s", "dead", "p95_wait", "ok/s", "limit")
WORKER_DROP = ("host", "tags", "beat", "queues", "gpus", "running")
MAX_JOBS = 1000  # running jobs whose function top looks up
Running = dict[str, dict[str, int]]  # worker id -> function -> jobs


@dataclass(frozen=True)
class QueueRates:
    succeeded: float  # per second
    failed: float  # per second: failed and dead-lettered
    p95_wait: float | None  # seconds, over the window


class RateWindow:
    """Recent stats snapshots; rates are taken between the newest and the oldest kept."""

    def __init__(self, window: float = 10.0) -> None:
        self.window = window
        self._samples: deque[tuple[float, dict[str, QueueStats]]] = deque()

    def add(self, snap: Snapshot) -> None:
        self._samples.append((snap.time, {q.name: q.stats for q in snap.queues}))
        while len(self._samples) > 2 and snap.time - self._samples[1][0] >= self.window:
            self._samples.popleft()

    def rates(self) -> dict[str, QueueRates]:
        if len(self._samples) < 2:
            return {}
        (t0, old), (t1, new) = self._samples[0], self._samples[-1]
        span = t1 - t0
        if span <= 0:
            return {}
        out = {}
        for name, stats in new.items():
            delta = stats.since(old.get(name, QueueStats()))
            fails = sum(delta.finished.get(k, 0) for k in FAILURES)
            out[name] = QueueRates(
                delta.finished.get("succeeded", 0) / span, fails / span, delta.wait_quantile(0.95)
            )
        return out


def state(q: QueueView) -> str:
    """Why a backlog is not shrinking, at a glance."""
    if q.paused:
        return "paused"  # nothing starts until `rqueues resume`, backlog or not
    if not q.waiting:
        return "busy" if q.pending else "idle"
    if q.consumers == 0:
        return "no-consumer"
    if q.saturated:
        return "limit-bound"  # more workers will not help: the limit is the bottleneck
    if q.rate_saturated:
        return "rate-bound"  # the rate limit's permits for this window are used: nor here
    return "worker-bound"  # the limit has room: more workers (or slots) would help


def queue_rows(snap: Snapshot, rates: Mapping[str, QueueRates]) -> list[dict[str, Any]]:
    rows = []
    for q in snap.queues:
        r = rates.get(q.name)
        rows.append(
            {
                "queue": q.name,
                "limit": _limit(q),
                "executor": q.executor + (f":{q.timeout:g}s" if q.timeout is not None else ""),
                "in_use": q.in_use,
                "waiting": q.waiting,
                "sched": q.scheduled,
                "dead": q.dead,
                "stalled": q.stalled,
                "ok/s": f"{r.succeeded:.1f}" if r else "-",
                "fail/s": f"{r.failed:.1f}" if r else "-",
                "p95_wait": duration(r.p95_wait) if r else "-",
                "oldest": duration(q.oldest_waiting_seconds),
                "state": state(q),
            }
        )
    return rows


def _limit(q: QueueView) -> str:
    """The concurrency limit, and the rate limit when there is one: ``2``, ``-``, ``2 100/s``."""
    cap = str(q.concurrency or "-")
    return f"{cap} {q.rate}" if q.rate else cap


def worker_rows(snap: Snapshot, running: Running) -> list[dict[str, Any]]:
    rows = []
    for w in snap.workers:
        counts = running.get(w.id, {})
        listed = ", ".join(f"{fn} x{n}" if n > 1 else fn for fn, n in sorted(counts.items()))
        rows.append(
            {
                "worker": w.id,
                "host": w.host,
                "tags": ",".join(w.tags) or "-",
                "queues": ",".join(w.queues) or "-",
                "run/slots": f"{sum(counts.values())}/{w.concurrency}",
                "beat": duration(w.heartbeat_age),
                "running": listed or "-",
                "gpus": gpus_text(w.gpus),  # each device and the job holding it
            }
        )
    return rows


def running_jobs(conn: Store, snap: Snapshot, limit: int = MAX_JOBS) -> Running:
    """What each worker runs now: the jobs holding a lease, by the worker and function in their records.

    Read at the moment of the snapshot rather than from the workers' last heartbeat,
    which can be a second old (a long time for short jobs).
    """
    now_ms = int(snap.time * 1000)
    pipe = conn.redis.pipeline(transaction=False)
    for q in snap.queues:
        pipe.zrangebyscore(conn.keys.queue(q.name).leases, now_ms, "+inf", start=0, num=limit)
    leased = [
        (conn.keys.queue(q.name), m.decode())
        for q, members in zip(snap.queues, pipe.execute(), strict=True)
        for m in members
    ][:limit]
    # A lease names its delivery (the stream entry), whose entry names the job.
    where = [(k, job) for (k, _), job in zip(leased, jobs_of(conn.redis, leased), strict=True) if job]
    pipe = conn.redis.pipeline(transaction=False)
    for keys, job in where:
        pipe.hmget(keys.job(job), "function", "worker")
    out: Running = {}
    for fn, worker in pipe.execute() if where else []:
        if fn and worker:
            counts = out.setdefault(worker.decode(), {})
            task = fn.decode().replace(":", ".")
            counts[task] = counts.get(task, 0) + 1
    return out


def info_json(snap: Snapshot, rates: Mapping[str, QueueRates], running: Running) -> dict[str, Any]:
    """The data of render() for --json: the snapshot plus rates and running functions."""
    data = snap.to_json()
    for q in data["queues"]:
        r = rates.get(q["name"])
        q["state"] = state(next(v for v in snap.queues if v.name == q["name"]))
        q["succeeded_per_second"] = None if r is None else round(r.succeeded, 3)
        q["failed_per_second"] = None if r is None else round(r.failed, 3)
        q["p95_wait_seconds"] = None if r is None or r.p95_wait is None else round(r.p95_wait, 6)
    for w in data["workers"]:
        w["running_functions"] = running.get(w["id"], {})
    return data


def render(
    snap: Snapshot,
    rates: Mapping[str, QueueRates],
    running: Running,
    title: str = "rqueues top",
    width: int | None = None,
) -> str:
    """The whole screen as plain text; within ``width`` columns when given."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(snap.time))
    head = f"{title}  {stamp}  queues {len(snap.queues)}  workers {len(snap.workers)}  {_reaper(snap)}"
    if snap.refusing_writes:
        head += "\nRedis is out of memory and refuses writes: nothing new is enqueued or claimed"
    queues, workers = queue_rows(snap, rates), worker_rows(snap, running)
    columns = worker_columns(workers)
    if width is None:
        body = [table(queues, QUEUE_COLUMNS), "", table(workers, columns)]
    else:
        head = "\n".join(line[:width] for line in head.splitlines())
        body = [
            fit(queues, QUEUE_COLUMNS, width, QUEUE_DROP),
            "",
            fit(workers, columns, width, WORKER_DROP),
        ]
    return "\n".join([head, "", *body])


def worker_columns(rows: Sequence[dict[str, Any]]) -> tuple[str, ...]:
    """The worker table's columns: GPUS only when a worker has GPUs."""
    if any(row.get("gpus") for row in rows):
        return WORKER_COLUMNS
    return tuple(c for c in WORKER_COLUMNS if c != "gpus")


def _reaper(snap: Snapshot) -> str:
    rp = snap.reaper
    if rp is None or rp.last_run_age is None:
        return "reaper never ran"
    return f"reaper {duration(rp.last_run_age)} ago, reclaimed {rp.reclaimed or 0}"


def duration(seconds: float | None) -> str:
    """Short human duration: 850ms, 4.2s, 3m10s, 2h05m."""
    if seconds is None:
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.1f}s"
    if seconds < 3600:
        return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"
    return f"{int(seconds // 3600)}h{int(seconds % 3600 // 60):02d}m"


def sample(
    conn: Store,
    seconds: float,
    queues: Sequence[str] | None = None,
    dead_after: float = DEAD_AFTER,
) -> tuple[Snapshot, dict[str, QueueRates], Running]:
    """A snapshot with rates measured over ``seconds`` (none when 0): what `rqueues info` shows."""
    window = RateWindow(window=max(seconds, 0.001))
    if seconds > 0:
        window.add(read_snapshot(conn, queues, dead_after))
        time.sleep(seconds)
    snap = read_snapshot(conn, queues, dead_after)
    window.add(snap)
    return snap, window.rates(), running_jobs(conn, snap)


def run_top(
    conn: Store,
    interval: float = 1.0,
    window: float = 10.0,
    count: int | None = None,
    out: TextIO | None = None,
    stop: threading.Event | None = None,
    dead_after: float = DEAD_AFTER,
) -> None:
    """Redraw every ``interval`` seconds until Ctrl-C (or ``count`` frames)."""
    out = out or sys.stdout
    stop = stop or threading.Event()
    rates = RateWindow(window)
    frames = 0
    clear = "\x1b[H\x1b[2J" if out.isatty() else ""
    failed: Exception | None = None
    with keys(stop) as pressed:
        while count is None or frames < count:
            began = time.monotonic()
            # A terminal gets one screen, columns dropped to fit; a pipe or a file gets whole lines.
            width = shutil.get_terminal_size().columns if out.isatty() else None
            try:
                snap = read_snapshot(conn, dead_after=dead_after)
                rates.add(snap)
                text = render(snap, rates.rates(), running_jobs(conn, snap), width=width)
                failed = None
            except (redis.RedisError, RqueuesError) as exc:
                if not frames:
                    raise  # nothing to show: an error and a non-zero exit, not a screen
                failed = exc
                text = f"rqueues top: cannot read Redis: {exc}"
            out.write(clear + text + "\n")
            out.flush()
            frames += 1
            if count is not None and frames >= count:
                break
            if pressed(max(0.0, interval - (time.monotonic() - began))) == "q" or stop.is_set():
                break
    if failed is not None:
        raise failed


@contextlib.contextmanager
def keys(stop: threading.Event) -> Iterator[Callable[[float], str]]:
    """``pressed(timeout)``: the key typed within ``timeout`` seconds ('' if none).

    At a terminal, stdin is read a key at a time (no Enter needed) and restored
    afterwards; elsewhere it waits for ``stop`` (which reads as 'q').
    """
    stdin = sys.stdin
    if not stdin.isatty():
        yield lambda timeout: "q" if stop.wait(timeout) else ""
        return
    import termios
    import tty

    fd = stdin.fileno()
    saved = termios.tcgetattr(fd)
    tty.setcbreak(fd)

    def pressed(timeout: float) -> str:
        ready, _, _ = select.select([fd], [], [], timeout)
        return os.read(fd, 1).decode(errors="replace").lower() if ready else ""

    try:
        yield pressed
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
