"""Queues: declaring them, enqueuing jobs, and reading their state."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NoReturn

import redis

from .admin import Purged, delete_queue, purge_queue
from .backend import dependencies, scripts
from .backend.clients import redact
from .backend.counts import read_counts
from .backend.dependencies import Ref
from .backend.entries import generated_id, pack_fresh
from .backend.keys import GROUP, check_queue_name
from .backend.store import Store, as_store
from .checks import check_int
from .codec import encode_call
from .config import DEFAULT_MAX_RECLAIMS, DEFAULT_RESULT_TTL, QueueConfig, parse_configs
from .defaults import MAX_CONCURRENCY
from .errors import (
    ConfigurationError,
    DuplicateJob,
    JobNotFound,
    PayloadTooLarge,
    QueueNotDeclared,
    RedisOutOfMemory,
)
from .functions import function_name
from .job import Job, new_job_id
from .options import JobOptions
from .ratelimit import RateLimit, as_rate
from .retry import RetryPolicy
from .when import check_aware, delay_seconds

#: Jobs per script call in enqueue_many (about 50 ms of server time); every call of a
#: batch goes in one pipeline. A batch of up to this many is written atomically.
ENQUEUE_CHUNK = 5000

NO_OPTIONS = JobOptions()
Call = tuple[Any, ...]  # (fn, args, kwargs) or (fn, args, kwargs, JobOptions)
Row = tuple[str, bytes, int, str, str]  # job id or '', entry value, delay ms, unique, parents: enqueue.lua


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
    ) -> QueueConfig:
        """Create the queue or replace its settings; running workers pick them up at once.

        The declaration is the whole configuration: a setting left out takes its
        default. Lowering the limit lets running jobs finish. ``rate_limit`` (``"100/s"``,
        ``"30/m"``, ``"1000/h"`` or a RateLimit) caps how many jobs start in any window of
        that length, over all workers. A pause is kept (see pause()).
        """
        config = QueueConfig(
            self.name,
            concurrency=concurrency,
            tags=tuple(tags),
            result_ttl=result_ttl,
            retry=retry or RetryPolicy(),
            max_reclaims=max_reclaims,
            rate_limit=as_rate(rate_limit),
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
            pipe.hget(self.keys.config, "paused")
            replies = pipe.execute()
            # The registry is written last: a worker sees only fully declared queues.
            r.sadd(self.connection.keys.queues, self.name)
        return dataclasses.replace(config, version=replies[1], paused=replies[3] == b"1")

    def pause(self) -> None:
        """Start no job of this queue until resume(): enqueues are accepted, running jobs
        finish, and a declare keeps the pause."""
        self._pause(True)

    def resume(self) -> None:
        """Start this queue's jobs again; blocked workers wake at once."""
        self._pause(False)

    def _pause(self, paused: bool) -> None:
        with self.connection.guard():
            try:
                self.connection.scripts.pause(self.keys, paused)
            except redis.ResponseError as exc:
                self._raise(exc)

    def config(self) -> QueueConfig:
        with self.connection.guard():
            raw = self.connection.redis.hgetall(self.keys.config)
        if not raw:
            raise QueueNotDeclared(self.name)
        return QueueConfig.from_hash(self.name, raw)

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
        (also ``unique_key=``, ``on_duplicate=``, ``depends_on=``, ``allow_failure=``)."""
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
        prepared = [_row(call, self.connection.max_payload_bytes) for call in calls]
        if not prepared:
            return []
        rows = [row for row, _ in prepared]
        chosen = [row[0] for row in rows if row[0]]
        seen: set[str] = set()
        for job_id in chosen:
            if job_id in seen:
                raise DuplicateJob(f"the batch names job id {job_id!r} twice")
            seen.add(job_id)
        _check_unique_batch([opts for _, opts in prepared])
        links = self._links(prepared)
        rows = [
            (*row[:4], _parents_json(opts, [p for p, d in links if d.job_id == row[0]]))
            if opts.depends_on
            else row
            for row, opts in prepared
        ]
        with self.connection.guard(sending=max(len(row[1]) for row in rows)):
            if links:
                self._register(links)
            if len(rows) <= ENQUEUE_CHUNK:  # one script call: no pipeline needed
                try:
                    entries = self.connection.scripts.enqueue(self.keys, rows)
                except redis.ResponseError as exc:
                    self._raise(exc)
            else:
                entries = self._enqueue_chunks(rows, chosen)
            if links:
                dependencies.settle_new(self.connection, links)
        jobs = []
        for row, entry in zip(rows, entries, strict=True):
            if entry.startswith("!"):  # its unique key is held by that job
                jobs.append(Job(entry[1:], self.name, self.connection, duplicate=True))
            else:  # a job to run now is known by its queue and entry, unless it has an id of its own
                jobs.append(Job(row[0] or generated_id(self.name, entry), self.name, self.connection))
        return jobs

    def _links(self, prepared: Sequence[tuple[Row, JobOptions]]) -> list[tuple[Ref, Ref]]:
        """(parent, dependent) for each parent of each call with depends_on."""
        links = []
        for row, opts in prepared:
            for parent in opts.depends_on or ():
                links.append((self._parent(parent), Ref(self.name, row[0])))
        return links

    def _parent(self, parent: Any) -> Ref:
        if isinstance(parent, Job):
            return Ref(parent.queue, parent.id)
        if isinstance(parent, str):
            found = Job.fetch(parent, self.connection)
            return Ref(found.queue, found.id)
        raise ConfigurationError(f"depends_on takes Jobs or job ids, got {parent!r}")

    def _register(self, links: Sequence[tuple[Ref, Ref]]) -> None:
        try:
            states = dependencies.register(self.connection, links)
        except redis.ResponseError as exc:
            self._raise(exc)
        for (parent, _), state in zip(links, states, strict=True):
            if state == "missing":
                raise JobNotFound(
                    f"depends_on names job {parent.job_id!r} of queue {parent.queue!r}, which does not exist"
                )

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
        if text.startswith("UNIQUE"):
            holder, _, key = text.partition(" ")[2].partition(" ")
            raise DuplicateJob(
                f"job {holder!r} of queue {self.name!r} holds unique key {key!r}", job_id=holder
            )
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


def _row(call: Sequence[Any], max_payload_bytes: int) -> tuple[Row, JobOptions]:
    """The enqueue.lua values of one call (job id ('' to take the entry id), entry value,
    delay ms, unique key, parents: filled in once they are found), and its options."""
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
    delay = opts.delay_ms()
    # A delayed or deferred job has a record from the start, so it needs its id before it
    # has an entry.
    job_id = opts.job_id or (new_job_id() if delay or opts.depends_on else "")
    mode = "!" if opts.on_duplicate == "raise" else "="  # see enqueue.lua
    unique = "" if opts.unique_key is None else mode + opts.unique_key
    return (job_id, pack_fresh(name, payload, opts.blob(), opts.job_id), delay, unique, ""), opts


def _parents_json(opts: JobOptions, parents: Sequence[Ref]) -> str:
    """The parents value of enqueue.lua for a dependent (flow.lua's flow_defer)."""
    pairs = [[p.queue, p.job_id] for p in parents]
    return json.dumps({"parents": pairs, "allow_failure": opts.allow_failure})


def _check_unique_batch(options: Sequence[JobOptions]) -> None:
    """A unique key named twice in a batch returns the first call's job for the second,
    unless one of them asks to raise: then DuplicateJob, before anything is written."""
    seen: dict[str, JobOptions] = {}
    for opts in options:
        if opts.unique_key is None:
            continue
        first = seen.get(opts.unique_key)
        seen.setdefault(opts.unique_key, opts)
        if first is not None and "raise" in (first.on_duplicate, opts.on_duplicate):
            raise DuplicateJob(f"the batch names unique key {opts.unique_key!r} twice")


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
        out.append(QueueInfo(
            name, config.concurrency, config.tags, c.in_use, c.waiting, c.pending, c.dead,
            config.paused, config.rate_limit,
        ))  # fmt: skip
    return out
