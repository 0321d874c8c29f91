"""Queues: declaring them, enqueuing jobs, and reading their state."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

import redis

from . import defaults
from .admin import Purged, delete_queue, purge_queue
from .backend import scripts
from .backend.clients import redact
from .backend.counts import read_counts
from .backend.entries import generated_id, pack_fresh
from .backend.keys import GROUP, check_queue_name
from .backend.store import Store, as_store
from .codec import encode_call
from .config import DEFAULT_MAX_RECLAIMS, DEFAULT_RESULT_TTL, QueueConfig, parse_configs
from .errors import ConfigurationError, DuplicateJob, PayloadTooLarge, QueueNotDeclared, RedisOutOfMemory
from .functions import function_name
from .job import Job, new_job_id
from .options import JobOptions
from .retry import RetryPolicy

#: Jobs per script call in enqueue_many (about 50 ms of server time); every call of a
#: batch goes in one pipeline. A batch of up to this many is written atomically.
ENQUEUE_CHUNK = 5000

NO_OPTIONS = JobOptions()
Call = tuple[Any, ...]  # (fn, args, kwargs) or (fn, args, kwargs, JobOptions)
Row = tuple[str, bytes, int]  # job id or '', entry value, delay ms: see enqueue.lua


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
        default. Lowering the limit lets running jobs finish. ``executor`` is
        'thread', 'process' or 'asyncio'; ``timeout`` (seconds) is the default of a
        job's own; ``max_jobs_per_child`` and ``max_memory_per_child`` (MB) recycle and
        limit the process executor's children (0: no limit).
        """
        config = QueueConfig(
            self.name,
            concurrency=concurrency,
            tags=tuple(tags),
            result_ttl=result_ttl,
            retry=retry or RetryPolicy(),
            max_reclaims=max_reclaims,
            executor=executor,
            timeout=timeout,
            max_jobs_per_child=max_jobs_per_child,
            max_memory_per_child=max_memory_per_child,
            gpus_per_job=gpus_per_job,
            gpu_share=gpu_share,
        )
        r = self.connection.redis
        with self.connection.guard():
            try:
                r.xgroup_create(self.keys.stream, GROUP, id="0", mkstream=True)
            except redis.ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise
            pipe = r.pipeline(transaction=True)
            pipe.hset(self.keys.config, mapping=config.to_hash())
            pipe.hincrby(self.keys.config, "version", 1)
            pipe.xadd(self.keys.events, {"config": 1}, maxlen=1000, approximate=True)
            version = pipe.execute()[1]
            # The registry is written last: a worker sees only fully declared queues.
            r.sadd(self.connection.keys.queues, self.name)
        return dataclasses.replace(config, version=version)

    def config(self) -> QueueConfig:
        with self.connection.guard():
            raw = self.connection.redis.hgetall(self.keys.config)
        if not raw:
            raise QueueNotDeclared(self.name)
        return QueueConfig.from_hash(self.name, raw)

    # -- enqueue ----------------------------------------------------------

    def enqueue(self, fn: Callable[..., Any] | str, *args: Any, **kwargs: Any) -> Job:
        """Enqueue ``fn(*args, **kwargs)``; ``fn`` is a module-level function or 'module:name'."""
        return self.enqueue_many([(fn, args, kwargs)])[0]

    def options(self, **options: Any) -> BoundQueue:
        """``q.options(job_id="x", timeout=60, retries=3).enqueue(fn, ...)``; see JobOptions."""
        return BoundQueue(self, JobOptions(**options))

    def enqueue_many(self, calls: Iterable[Call]) -> list[Job]:
        """Enqueue many calls in one round trip: (fn, args, kwargs[, JobOptions]) each.

        All or nothing: when a job id is already taken (or named twice), DuplicateJob
        names it and no job is written. A batch of up to ENQUEUE_CHUNK jobs is one
        script call, so this holds against concurrent writers too. A larger batch is
        checked whole first (one more round trip), then written in calls of
        ENQUEUE_CHUNK jobs: a writer that creates one of its ids between the check and
        the write gets that call refused while the other calls go through.
        """
        rows = [_row(call, self.connection.max_payload_bytes) for call in calls]
        if not rows:
            return []
        chosen = [row[0] for row in rows if row[0]]
        seen: set[str] = set()
        for job_id in chosen:
            if job_id in seen:
                raise DuplicateJob(f"the batch names job id {job_id!r} twice")
            seen.add(job_id)
        with self.connection.guard(sending=max(len(row[1]) for row in rows)):
            if len(rows) <= ENQUEUE_CHUNK:  # one script call: no pipeline needed
                try:
                    entries = self.connection.scripts.enqueue(self.keys, rows)
                except redis.ResponseError as exc:
                    self._raise(exc)
            else:
                entries = self._enqueue_chunks(rows, chosen)
        # A job to run now is known by its queue and entry, unless it was given an id of its own.
        ids = [row[0] or generated_id(self.name, entry) for row, entry in zip(rows, entries, strict=True)]
        return [Job(job_id, self.name, self.connection) for job_id in ids]

    def _enqueue_chunks(self, rows: Sequence[Row], chosen: Sequence[str]) -> list[str]:
        """Check the chosen ids of a large batch, then write it in calls of ENQUEUE_CHUNK jobs,
        all in one pipeline; the entry ids."""
        self._check_free(chosen)
        batch = self.connection.scripts.batch()
        replies = [
            batch.add(scripts.enqueue(self.keys, rows[i : i + ENQUEUE_CHUNK]))
            for i in range(0, len(rows), ENQUEUE_CHUNK)
        ]
        batch.execute()
        entries: list[str] = []
        for reply in replies:
            if isinstance(reply.error, redis.ResponseError):
                self._raise(reply.error)
            entries.extend(reply.get())
        return entries

    def _check_free(self, ids: Sequence[str]) -> None:
        """Raise DuplicateJob naming the first of ``ids`` taken by a job (one round trip)."""
        pipe = self.connection.redis.pipeline(transaction=False)
        for job_id in ids:
            pipe.hexists(self.keys.ids, job_id)
            pipe.exists(self.keys.job(job_id))
        found = pipe.execute()
        for job_id, queued, recorded in zip(ids, found[0::2], found[1::2], strict=True):
            if queued or recorded:
                raise DuplicateJob(f"a job with id {job_id!r} already exists in queue {self.name!r}")

    def _raise(self, error: redis.ResponseError) -> NoReturn:
        if isinstance(error, redis.exceptions.OutOfMemoryError):  # enqueue.lua is refused whole
            raise RedisOutOfMemory(redact(self.connection.url)) from error
        text = str(error)
        if text.startswith("NOQUEUE"):
            raise QueueNotDeclared(self.name) from None
        if text.startswith("DUPLICATE"):
            job_id = text.partition(" ")[2]
            raise DuplicateJob(f"a job with id {job_id!r} already exists in queue {self.name!r}")
        raise error

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


def _row(call: Sequence[Any], max_payload_bytes: int) -> Row:
    """The enqueue.lua values of one call: job id ('' to take the entry id), entry value, delay ms."""
    if not 3 <= len(call) <= 4:
        raise ConfigurationError(f"expected (fn, args, kwargs[, JobOptions]), got {call!r}")
    fn, args, kwargs = call[0], call[1], call[2]
    opts = call[3] if len(call) == 4 else NO_OPTIONS
    if not isinstance(opts, JobOptions):
        raise ConfigurationError(f"expected JobOptions as the 4th item, got {opts!r}")
    name = function_name(fn)
    payload = encode_call(tuple(args), dict(kwargs))
    if len(payload) > max_payload_bytes:
        raise PayloadTooLarge(
            f"the arguments of {name} encode to {len(payload)} bytes, more than the limit of "
            f"{max_payload_bytes} bytes (connect(max_payload_bytes=...)); pass a reference "
            "(a path, a URL, a key) to large data instead"
        )
    delay = int(opts.delay * 1000) if opts.delay else 0
    # A delayed job has a record from the start, so it needs its id before it has an entry.
    job_id = opts.job_id or (new_job_id() if delay else "")
    return (job_id, pack_fresh(name, payload, opts.blob(), opts.job_id), delay)


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
        execution = (config.executor, config.timeout)
        out.append(QueueInfo(name, config.concurrency, config.tags, *counted, *execution))
    return out
