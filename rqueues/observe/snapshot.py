"""The cluster at one moment, read from Redis in three pipelined round trips.

The exporter, `rqueues top` and `rqueues info` all show this. The cost grows
with the number of queues and workers, never with the number of jobs: no
command here walks a stream, a pending list or the job records.

Definitions (per queue):

- waiting: entries not yet delivered to any worker (the consumer group's lag;
  when Redis cannot tell the lag, or tells one above it, stream length minus pending)
- pending: delivered and not yet acknowledged
- running: pending on live workers; stalled: pending on dead ones (given back
  by the reaper)
- in_use: unexpired leases (permits of the concurrency limit held)
- expired_leases: leases past their expiry not yet pruned (their holder stopped
  renewing them)

A worker is live while its heartbeat in the workers registry is at most
``dead_after`` seconds old: the rule the reaper applies.

Whether Redis refuses writes (out of memory under noeviction) comes from LPUSHX
on a key that never exists: it writes nothing, and Redis refuses it exactly
when it refuses a claim or an enqueue.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from redis.exceptions import OutOfMemoryError

from ..backend.counts import QueueCounts, as_int, levels_in_use, read_queue_counts
from ..backend.store import Store
from ..config import parse_configs
from ..liveness import DEAD_AFTER, live_workers
from ..ratelimit import RateLimit
from ..record import iso
from .listing import decode_worker_hash, worker_gpus
from .stats import QueueStats


@dataclass(frozen=True)
class QueueView:
    name: str
    concurrency: int  # 0 = unlimited
    tags: tuple[str, ...]
    waiting: int
    lag_known: bool  # False when Redis' group lag is missing or above what the stream holds
    pending: int
    running: int
    stalled: int
    in_use: int
    expired_leases: int
    scheduled: int
    scheduled_due: int  # scheduled jobs whose due time has passed
    dead: int
    oldest_waiting_seconds: float | None  # None when nothing waits
    consumers: int  # live workers consuming this queue
    rate_limit: float | None  # jobs per second, when the queue declares one
    stats: QueueStats = field(default_factory=QueueStats)
    paused: bool = False
    rate: RateLimit | None = None  # the declared rate limit
    rate_used: int = 0  # starts within the rate limit's current window (read only with a backlog)
    executor: str = "thread"  # how its jobs run (see rqueues.defaults.EXECUTORS)
    timeout: float | None = None  # its default job timeout

    @property
    def saturated(self) -> bool:
        """The concurrency limit is fully in use."""
        return self.concurrency > 0 and self.in_use >= self.concurrency

    @property
    def rate_saturated(self) -> bool:
        """Every permit of the rate limit's current window is used."""
        return self.rate is not None and self.rate_used >= self.rate.count

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "concurrency": self.concurrency,
            "tags": list(self.tags),
            "waiting": self.waiting,
            "lag_known": self.lag_known,
            "pending": self.pending,
            "running": self.running,
            "stalled": self.stalled,
            "in_use": self.in_use,
            "expired_leases": self.expired_leases,
            "scheduled": self.scheduled,
            "scheduled_due": self.scheduled_due,
            "dead": self.dead,
            "oldest_waiting_seconds": self.oldest_waiting_seconds,
            "consumers": self.consumers,
            "rate_limit": self.rate_limit,
            "rate": str(self.rate) if self.rate else None,
            "rate_used": self.rate_used,
            "paused": self.paused,
            "executor": self.executor,
            "timeout": self.timeout,
            "started": self.stats.started,
            "finished": dict(self.stats.finished),
        }


@dataclass(frozen=True)
class WorkerView:
    id: str
    host: str
    pid: int | None
    tags: tuple[str, ...]
    queues: tuple[str, ...]
    concurrency: int
    running: int
    jobs: tuple[str, ...]  # ids of the jobs it runs, as of its last heartbeat
    heartbeat_age: float  # seconds
    gpus: dict[str, tuple[str, ...]] = field(default_factory=dict)  # device -> jobs holding it

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "host": self.host,
            "pid": self.pid,
            "tags": list(self.tags),
            "queues": list(self.queues),
            "concurrency": self.concurrency,
            "running": self.running,
            "jobs": list(self.jobs),
            "heartbeat_age_seconds": round(self.heartbeat_age, 3),
            **({"gpus": {d: list(j) for d, j in self.gpus.items()}} if self.gpus else {}),
        }


@dataclass(frozen=True)
class ReaperView:
    """What the reaper last wrote to its hash; None fields were not written."""

    last_run: float | None  # epoch seconds
    last_run_age: float | None  # seconds, by the Redis clock
    holder: str | None
    reclaimed: int | None
    dead_lettered: int | None

    def to_json(self) -> dict[str, Any]:
        return {
            "last_run": iso(self.last_run),
            "last_run_age_seconds": None if self.last_run_age is None else round(self.last_run_age, 3),
            "holder": self.holder,
            "reclaimed": self.reclaimed,
            "dead_lettered": self.dead_lettered,
        }


@dataclass(frozen=True)
class Snapshot:
    time: float  # Redis clock, epoch seconds
    queues: list[QueueView]
    workers: list[WorkerView]  # live only
    dead_workers: int  # still registered, heartbeat too old
    reaper: ReaperView | None  # None: no reaper has ever written its hash
    refusing_writes: bool = False  # Redis is out of memory (noeviction at maxmemory)

    def to_json(self) -> dict[str, Any]:
        return {
            "redis_refusing_writes": self.refusing_writes,
            "time": iso(self.time),  # --json times are ISO 8601 everywhere
            "queues": [q.to_json() for q in self.queues],
            "workers": [w.to_json() for w in self.workers],
            "dead_workers": self.dead_workers,
            "reaper": None if self.reaper is None else self.reaper.to_json(),
        }


def read_snapshot(
    conn: Store, queues: Sequence[str] | None = None, dead_after: float = DEAD_AFTER
) -> Snapshot:
    """Read every declared queue (or ``queues``), the live workers and the reaper's status."""
    keys = conn.keys
    (secs, micros), members, beats, reaper_raw, refusing = _registries(conn)
    now_ms = secs * 1000 + micros // 1000
    names = sorted(queues) if queues is not None else sorted(m.decode() for m in members)
    scores = {w.decode(): score for w, score in beats}
    alive = live_workers(scores, now_ms, dead_after)
    live_ids = [w for w in scores if w in alive]
    ages = {w: (now_ms - score) / 1000 for w, score in scores.items()}

    # One snapshot of all queues: a transaction where every key is on one server,
    # so that pending, leases and lag agree with each other.
    def more(pipe: Any) -> None:
        for wid in live_ids:
            pipe.hgetall(keys.worker(wid))
        for name in names:  # the priority levels each queue uses
            pipe.hkeys(keys.queue(name).levels)

    replies = read_queue_counts(conn, names, [()] * len(names), now_ms, more)
    raw_workers = replies[len(names) : len(names) + len(live_ids)]
    levels = [levels_in_use(found) for found in replies[len(names) + len(live_ids) :]]
    with_levels = [i for i, lv in enumerate(levels) if lv]
    if with_levels:  # one more read, as one view again, for the queues that use priorities
        again = read_queue_counts(
            conn, [names[i] for i in with_levels], [levels[i] for i in with_levels], now_ms
        )
        for i, counts in zip(with_levels, again, strict=True):
            replies[i] = counts
    workers = [
        _worker(wid, raw, ages[wid])
        for wid, raw in zip(live_ids, raw_workers, strict=True)
        if isinstance(raw, dict) and raw
    ]
    live = {w.id for w in workers}
    consumers: dict[str, int] = {}
    for w in workers:
        for q in w.queues:
            consumers[q] = consumers.get(q, 0) + 1

    views, firsts = [], {}
    for i, name in enumerate(names):
        counts = replies[i]
        view, last_delivered = _queue(name, counts, live, consumers)
        if view is not None:
            views.append(view)
            if view.waiting and last_delivered is not None:
                firsts[name] = last_delivered
    views = _with_oldest(conn, views, firsts, now_ms)
    views = _with_rate_used(conn, views, now_ms)
    return Snapshot(
        now_ms / 1000, views, workers, len(beats) - len(live), _reaper(reaper_raw, now_ms),
        refusing_writes=refusing,
    )  # fmt: skip


def _registries(conn: Store) -> tuple[Any, Any, Any, Any, bool]:
    """Redis' clock, the declared queues, the heartbeats, the reaper's hash, and whether
    Redis refuses writes, in one round trip."""
    pipe = conn.redis.pipeline(transaction=False)
    pipe.execute_command("TIME")  # redis-py refuses pipe.time() in a cluster pipeline
    pipe.smembers(conn.keys.queues)
    pipe.zrange(conn.keys.workers, 0, -1, withscores=True)
    pipe.hgetall(conn.keys.reaper)
    pipe.lpushx(conn.keys.write_probe, "")  # writes nothing; refused while Redis is out of memory
    *replies, probe = pipe.execute(raise_on_error=False)
    for reply in replies:
        if isinstance(reply, Exception):
            raise reply
    if isinstance(probe, Exception) and not isinstance(probe, OutOfMemoryError):
        raise probe
    clock, members, beats, reaper_raw = replies
    return clock, members, beats, reaper_raw, isinstance(probe, OutOfMemoryError)


def _queue(
    name: str, counts: QueueCounts, live: set[str], consumers: Mapping[str, int]
) -> tuple[QueueView | None, str | None]:
    if not counts.config:
        return None, None  # removed since the registry was read
    config = parse_configs({name: counts.config}, "it is left out of info, top and the exporter").get(name)
    if config is None:
        return None, None
    stalled = sum(n for c, n in counts.pending_by_consumer.items() if c not in live)
    view = QueueView(
        name=name,
        concurrency=config.concurrency,
        tags=config.tags,
        waiting=counts.waiting,
        lag_known=counts.lag_known,
        pending=counts.pending,
        running=counts.pending - stalled,
        stalled=stalled,
        in_use=counts.in_use,
        expired_leases=counts.expired_leases,
        scheduled=counts.scheduled,
        scheduled_due=counts.scheduled_due,
        dead=counts.dead,
        oldest_waiting_seconds=None,
        consumers=consumers.get(name, 0),
        rate_limit=config.rate_limit.count / config.rate_limit.window if config.rate_limit else None,
        stats=QueueStats.from_hash(counts.stats),
        paused=config.paused,
        rate=config.rate_limit,
        executor=config.executor,
        timeout=config.timeout,
    )
    return view, counts.last_delivered


def _with_oldest(
    conn: Store, views: list[QueueView], firsts: Mapping[str, str], now_ms: int
) -> list[QueueView]:
    """Age of the first undelivered entry of each queue with a backlog: its id holds its time."""
    if not firsts:
        return views
    pipe = conn.redis.pipeline(transaction=False)
    order = list(firsts)
    for name in order:
        pipe.xrange(conn.keys.queue(name).stream, min="(" + firsts[name], max="+", count=1)
    ages = {}
    for name, found in zip(order, pipe.execute(raise_on_error=False), strict=True):
        if isinstance(found, list) and found:
            entry_ms = int(found[0][0].decode().partition("-")[0])
            ages[name] = max(0.0, (now_ms - entry_ms) / 1000)
    out = []
    for v in views:
        if v.name in ages:
            v = dataclasses.replace(v, oldest_waiting_seconds=ages[v.name])
        out.append(v)
    return out


def _with_rate_used(conn: Store, views: list[QueueView], now_ms: int) -> list[QueueView]:
    """Starts in the current window of each rate-limited queue with a backlog (one round trip,
    only when there is one): what tells rate-bound from worker-bound."""
    limited = [v for v in views if v.rate is not None and v.waiting]
    if not limited:
        return views
    pipe = conn.redis.pipeline(transaction=False)
    for v in limited:
        assert v.rate is not None
        pipe.zcount(conn.keys.queue(v.name).starts, f"({now_ms - v.rate.window_ms}", "+inf")
    used = {v.name: as_int(n) for v, n in zip(limited, pipe.execute(raise_on_error=False), strict=True)}
    return [dataclasses.replace(v, rate_used=used[v.name]) if v.name in used else v for v in views]


def _worker(wid: str, raw: Mapping[bytes, bytes], age: float) -> WorkerView:
    info = decode_worker_hash(raw)
    jobs = info.get("jobs")
    return WorkerView(
        id=wid,
        host=str(info.get("host", "")),
        pid=as_int(info.get("pid")) or None,
        tags=tuple(str(t) for t in info.get("tags") or ()),
        queues=tuple(str(q) for q in info.get("queues") or ()),
        concurrency=as_int(info.get("concurrency")),
        running=as_int(info.get("running")),
        jobs=tuple(str(j) for j in jobs) if isinstance(jobs, list) else (),
        heartbeat_age=max(0.0, age),
        gpus=worker_gpus(info.get("gpus")),
    )


def _reaper(raw: Any, now_ms: int) -> ReaperView | None:
    if not isinstance(raw, dict) or not raw:
        return None
    last = _float(raw.get(b"last_run"))
    holder = raw.get(b"holder")
    reclaimed, dead = raw.get(b"reclaimed"), raw.get(b"dead_lettered")
    return ReaperView(
        last_run=None if last is None else last / 1000,
        last_run_age=None if last is None else max(0.0, (now_ms - last) / 1000),
        holder=holder.decode() if holder else None,
        reclaimed=None if reclaimed is None else as_int(reclaimed),
        dead_lettered=None if dead is None else as_int(dead),
    )


def _float(value: Any) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
