"""Queues: declaring them, enqueuing jobs, and reading their state."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import redis

from . import defaults
from .admin import Purged, delete_queue, purge_queue
from .backend import scripts
from .backend.counts import read_counts
from .backend.keys import GROUP, Keyspace, QueueKeys, check_queue_name
from .backend.steps import Cmd, Ops, Script, Steps
from .backend.store import Store, as_store
from .checks import check_int
from .config import DEFAULT_MAX_RECLAIMS, DEFAULT_RESULT_TTL, QueueConfig, parse_configs
from .defaults import MAX_CONCURRENCY
from .enqueueing import enqueue_steps, lone_written, lone_xadd, prepare_row, raise_for
from .errors import ConfigurationError, QueueNotDeclared
from .job import Job
from .middleware import run_after_enqueue, run_before_enqueue
from .options import JobOptions
from .ratelimit import RateLimit, as_rate
from .retry import RetryPolicy
from .when import check_aware, delay_seconds

Call = tuple[Any, ...]  # (fn, args, kwargs) or (fn, args, kwargs, JobOptions)


@dataclass(frozen=True)
class QueueInfo:
    """A queue's settings and counts at one moment."""

    name: str
    concurrency: int
    tags: tuple[str, ...]
    running: int  # leases held
    waiting: int  # entries not yet delivered (group lag)
    pending: int  # delivered, not yet acknowledged
    dead: int
    paused: bool = False
    rate_limit: RateLimit | None = None
    executor: str = defaults.EXECUTOR
    timeout: float | None = None  # the queue's default job timeout

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "concurrency": self.concurrency,
            "tags": list(self.tags),
            "running": self.running,
            "waiting": self.waiting,
            "pending": self.pending,
            "dead": self.dead,
            "paused": self.paused,
            "rate_limit": str(self.rate_limit) if self.rate_limit else None,
            "executor": self.executor,
            "timeout": self.timeout,
        }


class Queue:
    """A named queue. Cheap to create: it holds no state beyond its name."""

    def __init__(self, name: str, connection: Any = None) -> None:
        self.name = check_queue_name(name)
        self.connection: Store = as_store(connection)
        self.keys = self.connection.keys.queue(name)

    def __repr__(self) -> str:
        return f"Queue({self.name!r})"

    # -- settings ---------------------------------------------------------

    def declare(
        self,
        concurrency: int = 0,
        tags: Iterable[str] = (),
        result_ttl: int = DEFAULT_RESULT_TTL,
        retry: RetryPolicy | None = None,
        max_reclaims: int = DEFAULT_MAX_RECLAIMS,
        rate_limit: RateLimit | str | None = None,
        *,
        executor: str = defaults.EXECUTOR,
        timeout: float | None = None,
        max_jobs_per_child: int = 0,
        max_memory_per_child: int = 0,
        gpus_per_job: int = 0,
        gpu_share: bool = False,
    ) -> QueueConfig:
        """Create the queue or replace its settings; running workers pick them up at once.

        The declaration is the whole configuration: a setting left out takes its
        default. Lowering the limit lets running jobs finish. ``rate_limit`` (``"100/s"``,
        ``"30/m"``, ``"1000/h"`` or a RateLimit) caps how many jobs start in any window of
        that length, over all workers. A pause is kept (see pause()). ``executor`` is
        'thread', 'process' or 'asyncio'; ``timeout`` (seconds) is the default of a
        job's own; ``max_jobs_per_child`` and ``max_memory_per_child`` (MB) recycle and
        limit the process executor's children (0: no limit); ``gpus_per_job`` devices go
        to each job from the worker that runs it, alone unless ``gpu_share``.
        """
        settings = {
            "concurrency": concurrency,
            "tags": tags,
            "result_ttl": result_ttl,
            "retry": retry,
            "max_reclaims": max_reclaims,
            "rate_limit": rate_limit,
            "executor": executor,
            "timeout": timeout,
            "max_jobs_per_child": max_jobs_per_child,
            "max_memory_per_child": max_memory_per_child,
            "gpus_per_job": gpus_per_job,
            "gpu_share": gpu_share,
        }
        return self.connection.run(declare_steps(self.connection.keys, declared(self.name, settings)))

    def pause(self) -> None:
        """Start no job of this queue until resume(): enqueues are accepted, running jobs
        finish, and a declare keeps the pause."""
        self.connection.run(pause_steps(self.keys, True))

    def resume(self) -> None:
        """Start this queue's jobs again; blocked workers wake at once."""
        self.connection.run(pause_steps(self.keys, False))

    def config(self) -> QueueConfig:
        return self.connection.run(config_steps(self.keys))

    def set_concurrency(self, concurrency: int) -> QueueConfig:
        """Change only the queue's limit; every other setting stays as declared.

        A re-declaration with one field written: the config hash keeps its other
        fields (also those this version does not know), the version is bumped and
        workers are woken as ``declare`` does. Lowering the limit lets running jobs finish.
        """
        check_int("concurrency", concurrency, 0, MAX_CONCURRENCY)
        return self._redeclare({"concurrency": concurrency}, concurrency=concurrency)

    def set_rate_limit(self, rate_limit: RateLimit | str | None) -> QueueConfig:
        """Change only the queue's rate limit (``"100/s"``, a RateLimit, or None for none);
        every other setting stays as declared, as with set_concurrency()."""
        rate = as_rate(rate_limit)
        fields = {"rate_limit": rate.count if rate else 0, "rate_window": rate.window_ms if rate else 0}
        return self._redeclare(fields, rate_limit=rate)

    def _redeclare(self, fields: dict[str, int], **changed: Any) -> QueueConfig:
        """Write ``fields`` of a declared queue's config, bump its version and wake its workers."""
        config = self.config()  # QueueNotDeclared, or a clear error for a malformed config
        with self.connection.guard():
            pipe = self.connection.redis.pipeline(transaction=True)
            pipe.hset(self.keys.config, mapping=fields)
            pipe.hincrby(self.keys.config, "version", 1)
            pipe.xadd(self.keys.events, {"config": 1}, maxlen=1000, approximate=True)
            version = pipe.execute()[1]
        return dataclasses.replace(config, version=version, **changed)

    # -- enqueue ----------------------------------------------------------

    def enqueue(self, fn: Callable[..., Any] | str, *args: Any, **kwargs: Any) -> Job:
        """Enqueue ``fn(*args, **kwargs)``; ``fn`` is a module-level function or 'module:name'."""
        return self.enqueue_many([(fn, args, kwargs)])[0]

    def enqueue_in(
        self, delay: float | timedelta, fn: Callable[..., Any] | str, *args: Any, **kwargs: Any
    ) -> Job:
        """Enqueue ``fn(*args, **kwargs)`` to run ``delay`` (seconds or a timedelta) from now.

        It waits in Redis (state ``scheduled``) and is moved to the queue when due by
        whichever worker notices first; 0 runs it at once."""
        seconds = delay_seconds(delay)
        return self.enqueue_many([(fn, args, kwargs, JobOptions(delay=seconds or None))])[0]

    def enqueue_at(self, at: datetime, fn: Callable[..., Any] | str, *args: Any, **kwargs: Any) -> Job:
        """Enqueue ``fn(*args, **kwargs)`` to run at ``at``, an aware datetime (a naive one
        is refused); a time that has passed runs it at once."""
        return self.enqueue_many([(fn, args, kwargs, JobOptions(at=check_aware("at", at)))])[0]

    def options(self, **options: Any) -> BoundQueue:
        """``q.options(job_id="x", timeout=60, retries=3).enqueue(fn, ...)``; see JobOptions
        (also ``unique_key=``, ``on_duplicate=``, ``depends_on=``, ``allow_failure=``,
        ``priority=``: 0..9, higher runs first)."""
        return BoundQueue(self, JobOptions(**options))

    def enqueue_many(self, calls: Iterable[Call]) -> list[Job]:
        """Enqueue many calls in one round trip: (fn, args, kwargs[, JobOptions]) each.

        All or nothing: when a job id is already taken (or named twice), DuplicateJob
        names it and no job is written. A batch of up to ENQUEUE_CHUNK jobs is one
        script call, so this holds against concurrent writers too. A larger batch is
        checked whole first (one more round trip), then written in calls of
        ENQUEUE_CHUNK jobs: a writer that creates one of its ids between the check and
        the write gets that call refused while the other calls go through.

        A call whose ``unique_key`` another job holds (or an earlier call of the batch
        took) adds nothing and returns the holder (``Job.duplicate`` is True); with
        ``on_duplicate="raise"`` it raises DuplicateJob and nothing of the batch is written.
        Calls with ``depends_on`` are first registered with their parents (one more
        round trip), and told the parents already final once written (one more);
        JobNotFound names a parent that does not exist, before anything is enqueued.
        """
        enqueues = run_before_enqueue(self.name, calls)  # middleware may set options and meta
        prepared = [prepare_row(call, self.connection.max_payload_bytes) for call in enqueues]
        if (xadd := lone_xadd(self.keys, prepared)) is not None:  # one command, no steps to drive
            written = lone_written(self.keys, self.connection.execute(*xadd, sending=len(xadd[-1])))
        else:
            sending = max((len(row[1]) for row, _ in prepared), default=0)
            steps = enqueue_steps(self.connection.keys, self.keys, prepared)
            written = self.connection.run(steps, sending=sending)
        jobs = [Job(job_id, self.name, self.connection, duplicate=dup) for job_id, dup in written]
        run_after_enqueue(enqueues, jobs)
        return jobs

    # -- state ------------------------------------------------------------

    def info(self) -> QueueInfo:
        return queue_infos(self.connection, [self.name])[0]

    def purge(self) -> Purged:
        """Drop the waiting and scheduled jobs; running ones finish. Returns the counts."""
        return purge_queue(self.connection, self.name)

    def delete(self, *, force: bool = False, drop_running: bool = False) -> int:
        """Remove the queue and every key of it (see rqueues.admin.delete_queue)."""
        return delete_queue(self.connection, self.name, force=force, drop_running=drop_running)

    def job(self, job_id: str) -> Job:
        return Job(job_id, self.name, self.connection)


class BoundQueue:
    """A queue with per-job options bound; made by Queue.options()."""

    def __init__(self, queue: Queue, options: JobOptions) -> None:
        self.queue = queue
        self.job_options = options

    def enqueue(self, fn: Callable[..., Any] | str, *args: Any, **kwargs: Any) -> Job:
        return self.queue.enqueue_many([(fn, args, kwargs, self.job_options)])[0]


# -- the steps of each Queue method, shared with rqueues.aio ---------------------------


def declared(name: str, settings: Mapping[str, Any]) -> QueueConfig:
    """The config that declare(**settings) writes; an unknown setting is named."""
    fields = {f.name for f in dataclasses.fields(QueueConfig)} - {"name", "version", "paused"}
    unknown = sorted(set(settings) - fields)
    if unknown:
        raise ConfigurationError(
            f"unknown queue setting(s) {', '.join(unknown)}; known: {', '.join(sorted(fields))}"
        )
    values = dict(settings)
    values["tags"] = tuple(values.get("tags") or ())
    values["retry"] = values.get("retry") or RetryPolicy()
    values["rate_limit"] = as_rate(values.get("rate_limit"))
    return QueueConfig(name, **values)


def declare_steps(keyspace: Keyspace, config: QueueConfig) -> Steps[QueueConfig]:
    """Create the queue's group and write its settings (a pause is kept); the registry is
    written last, so a worker sees only fully declared queues."""
    keys = keyspace.queue(config.name)
    try:
        yield Ops([Cmd("XGROUP", "CREATE", keys.stream, GROUP, "0", "MKSTREAM")])
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise
    replies = yield Ops(
        [
            Cmd("HSET", keys.config, *(v for kv in config.to_hash().items() for v in kv)),
            Cmd("HINCRBY", keys.config, "version", 1),
            Cmd("XADD", keys.events, "MAXLEN", "~", 1000, "*", "config", 1),
            Cmd("HGET", keys.config, "paused"),
        ],
        transaction=True,
    )
    yield Ops([Cmd("SADD", keyspace.queues, config.name)])
    return dataclasses.replace(config, version=int(replies[1]), paused=replies[3] == b"1")


def pause_steps(keys: QueueKeys, paused: bool) -> Steps[None]:
    try:
        yield Script(scripts.pause(keys, paused))
    except redis.ResponseError as exc:
        raise_for(keys.name, exc)


def config_steps(keys: QueueKeys) -> Steps[QueueConfig]:
    (raw,) = yield Ops([Cmd("HGETALL", keys.config)])
    if not raw:
        raise QueueNotDeclared(keys.name)
    return QueueConfig.from_hash(keys.name, raw)


def queue_infos(conn: Store, names: Sequence[str], skip_malformed: bool = False) -> list[QueueInfo]:
    """Settings and counts of several queues, counted as `rqueues info` counts them.

    A queue whose config hash is malformed raises ConfigurationError naming it, or
    with ``skip_malformed`` is left out (logged once per config version).
    """
    with conn.guard():
        counts = read_counts(conn, list(names))
    missing = [n for n in names if n not in counts]
    if missing:
        raise QueueNotDeclared(missing[0])
    if skip_malformed:
        configs = parse_configs({n: counts[n].config for n in names}, "it is left out of the listing")
    else:
        configs = {n: QueueConfig.from_hash(n, counts[n].config) for n in names}
    out = []
    for name in [n for n in names if n in configs]:
        c, config = counts[name], configs[name]
        counted = (c.in_use, c.waiting, c.pending, c.dead)
        flow = (config.paused, config.rate_limit)
        execution = (config.executor, config.timeout)
        out.append(QueueInfo(name, config.concurrency, config.tags, *counted, *flow, *execution))
    return out
