"""Periodic jobs declared in Redis, enqueued by every worker's ticker, each tick exactly once.

A schedule lives in its queue's slot: the queue's ``cron`` hash maps its name to a
msgpack record (expression, timezone, function, payload, options, catch-up, an id
that changes when it is replaced), and ``cron_ticks`` holds the last tick enqueued.
``rqueues:cron-queues`` lists the queues that have schedules. No scheduler process:
each worker runs tick_due() when the next tick is due, and cron_tick.lua enqueues a
tick only if it is later than the last one recorded, in the same call that records
it, so however many workers race for a tick, one job results. The job id of a tick is
``cron-NAME-<tick epoch seconds>`` (``-<ms>`` when the tick has a fraction), a second
guard through the chosen-id index. Which ticks count as due: rqueues/schedule.py.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import msgpack
import redis

from .backend.clients import redact
from .backend.entries import pack_fresh
from .backend.store import Store, as_store
from .checks import check_int
from .codec import encode_call
from .errors import ConfigurationError, PayloadTooLarge, QueueNotDeclared, RedisOutOfMemory
from .functions import function_name
from .job import iso
from .options import JobOptions
from .schedule import MAX_CATCH_UP, Schedule, check_cron_name, due_ticks


@dataclass(frozen=True)
class CronJob:
    """A periodic job as stored: what it runs, on which queue, when."""

    name: str
    queue: str
    schedule: Schedule
    function: str
    payload: bytes
    options: bytes = b""
    catch_up: int = 1
    id: str = field(default_factory=lambda: os.urandom(6).hex())
    created_ms: int = 0

    def pack(self) -> bytes:
        data = {
            "id": self.id, "expr": self.schedule.expr, "tz": self.schedule.tz, "function": self.function,
            "payload": self.payload, "options": self.options, "catch_up": self.catch_up,
            "created": self.created_ms,
        }  # fmt: skip
        blob: bytes = msgpack.packb(data, use_bin_type=False)  # Lua's cmsgpack reads str only
        return blob

    @classmethod
    def unpack(cls, name: str, queue: str, blob: bytes) -> CronJob:
        d = msgpack.unpackb(blob, raw=True)

        def text(key: str) -> str:
            return str(d[key.encode()].decode())

        return cls(
            name, queue, Schedule(text("expr"), text("tz")), text("function"), bytes(d[b"payload"]),
            bytes(d.get(b"options") or b""), int(d.get(b"catch_up", 1)), text("id"),
            int(d.get(b"created", 0)),
        )  # fmt: skip

    def job_id(self, tick_ms: int) -> str:
        stamp = str(tick_ms // 1000) if tick_ms % 1000 == 0 else str(tick_ms)
        return f"cron-{self.name}-{stamp}"


@dataclass(frozen=True)
class CronInfo:
    """A schedule with its last and next run (epoch seconds)."""

    job: CronJob
    last_run: float | None  # the last tick enqueued; None before the first
    next_run: float | None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.job.name,
            "queue": self.job.queue,
            "schedule": self.job.schedule.expr,
            "tz": self.job.schedule.tz,
            "function": self.job.function,
            "catch_up": self.job.catch_up,
            "last_run": iso(self.last_run),
            "next_run": iso(self.next_run),
        }


def add_cron(
    connection: Any,
    name: str,
    schedule: str,
    queue: str,
    fn: Callable[..., Any] | str,
    args: Iterable[Any] = (),
    kwargs: Mapping[str, Any] | None = None,
    *,
    tz: str = "UTC",
    catch_up: int = 1,
    options: JobOptions | None = None,
) -> CronJob:
    """Declare (or replace) the periodic job ``name``: ``fn(*args, **kwargs)`` on ``queue`` at
    every tick of ``schedule`` (cron, 5 fields or 6 with seconds first) in timezone ``tz``.

    Ticks before this call never run. ``catch_up``: how many ticks missed while no worker
    ran are enqueued when one runs again (the newest of them; 0: none). ``options`` (a
    JobOptions without job_id, delay or at) apply to every run.
    """
    conn = as_store(connection)
    check_cron_name(name)
    check_int("catch_up", catch_up, 0, MAX_CATCH_UP)
    opts = options or JobOptions()
    if opts.job_id is not None or opts.delay is not None or opts.at is not None:
        raise ConfigurationError("a periodic job's options cannot set job_id, delay or at")
    payload = encode_call(tuple(args), dict(kwargs or {}))
    if len(payload) > conn.max_payload_bytes:
        raise PayloadTooLarge(f"the arguments of {name} encode to {len(payload)} bytes, over the limit")
    keys = conn.keys.queue(queue)
    with conn.guard():
        if not conn.redis.exists(keys.config):
            raise QueueNotDeclared(queue)
        secs, micros = conn.redis.time()
        now_ms = int(secs) * 1000 + int(micros) // 1000
        job = CronJob(name, queue, Schedule(schedule, tz), function_name(fn), payload, opts.blob(), catch_up,
                      created_ms=now_ms)  # fmt: skip
        pipe = conn.redis.pipeline(transaction=True)
        pipe.hset(keys.cron, name, job.pack())
        pipe.hset(keys.cron_ticks, name, now_ms)  # ticks before now are not this schedule's
        pipe.execute()
        conn.redis.sadd(conn.keys.cron_queues, queue)
    return job


def remove_cron(connection: Any, name: str, queue: str | None = None) -> bool:
    """Remove the periodic job ``name`` (from ``queue``, else from whichever queue has it);
    False when there is none. A run already enqueued stays."""
    conn = as_store(connection)
    removed = False
    with conn.guard():
        names = [queue] if queue else _cron_queues(conn)
        for q in names:
            keys = conn.keys.queue(q)
            pipe = conn.redis.pipeline(transaction=True)
            pipe.hdel(keys.cron, name)
            pipe.hdel(keys.cron_ticks, name)
            pipe.hlen(keys.cron)
            gone, _, left = pipe.execute()
            removed = removed or bool(gone)
            if not left:
                conn.redis.srem(conn.keys.cron_queues, q)
    return removed


def read_cron(conn: Store) -> tuple[float, list[tuple[CronJob, int]]]:
    """Redis' clock (epoch seconds) and every schedule with its last tick enqueued (ms), in
    two round trips."""
    names = _cron_queues(conn)
    pipe = conn.redis.pipeline(transaction=False)
    pipe.execute_command("TIME")  # redis-py refuses pipe.time() in a cluster pipeline
    for q in names:
        pipe.hgetall(conn.keys.queue(q).cron)
        pipe.hgetall(conn.keys.queue(q).cron_ticks)
    (secs, micros), *replies = pipe.execute()
    out = []
    for q, jobs, ticks in zip(names, replies[0::2], replies[1::2], strict=True):
        for raw_name, blob in sorted(jobs.items()):
            name = raw_name.decode()
            try:
                job = CronJob.unpack(name, q, blob)
            except (ValueError, KeyError, TypeError, AttributeError, ConfigurationError):
                continue  # not written by add_cron; list_cron shows what it can
            out.append((job, int(ticks.get(raw_name, b"0") or 0)))
    return int(secs) + int(micros) / 1e6, out


def list_cron(connection: Any) -> list[CronInfo]:
    """Every periodic job with its last and next run."""
    conn = as_store(connection)
    with conn.guard():
        now, schedules = read_cron(conn)
    out = []
    for job, last in schedules:
        ran = last if last > job.created_ms else None
        out.append(CronInfo(job, ran / 1000 if ran else None, job.schedule.next_after(now)))
    return sorted(out, key=lambda i: (i.job.queue, i.job.name))


@dataclass(frozen=True)
class Ticked:
    """What one pass of tick_due() did."""

    enqueued: int  # ticks this pass enqueued (others may have been by other workers)
    next_due: float | None  # the next tick of any schedule (epoch seconds), None when none
    now: float  # the time the pass judged by


def tick_due(connection: Any, now: float | None = None) -> Ticked:
    """Enqueue every tick due at ``now`` (epoch seconds; default: Redis' clock, which every
    worker shares) of every schedule; returns (ticks enqueued here, when the next tick is
    due, by the same clock: see Ticked). Any number of workers may call it at once: each tick is
    enqueued once (cron_tick.lua)."""
    conn = as_store(connection)
    enqueued = 0
    soonest: float | None = None
    with conn.guard():
        server_now, schedules = read_cron(conn)
        at = server_now if now is None else now
        for job, last in schedules:
            keys = conn.keys.queue(job.queue)
            for tick in due_ticks(job.schedule, last, at, job.catch_up):
                job_id = job.job_id(tick)
                entry = pack_fresh(job.function, job.payload, job.options, job_id)
                try:
                    enqueued += conn.scripts.cron_tick(keys, job.name, job.id, tick, job_id, entry)
                except redis.exceptions.OutOfMemoryError as exc:
                    raise RedisOutOfMemory(redact(conn.url)) from exc
                except redis.ResponseError as exc:
                    if not str(exc).startswith("NOQUEUE"):
                        raise
                    break  # the queue was deleted: its schedules go with it (see admin)
            upcoming = job.schedule.next_after(at)
            if upcoming is not None and (soonest is None or upcoming < soonest):
                soonest = upcoming
    return Ticked(enqueued, soonest, at)


def _cron_queues(conn: Store) -> list[str]:
    return sorted(m.decode() for m in conn.redis.smembers(conn.keys.cron_queues))
