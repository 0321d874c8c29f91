"""Queues: declaring them, enqueuing jobs, and reading their state."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

import redis

from .admin import Purged, delete_queue, purge_queue
from .backend import scripts
from .backend.counts import read_counts
from .backend.entries import generated_id, pack_fresh
from .backend.keys import GROUP, Keyspace, QueueKeys, check_queue_name
from .backend.steps import Cmd, Ops, Script, Steps
from .backend.store import Store, as_store
from .codec import encode_call
from .config import DEFAULT_MAX_RECLAIMS, DEFAULT_RESULT_TTL, QueueConfig, parse_configs
from .errors import ConfigurationError, DuplicateJob, PayloadTooLarge, QueueNotDeclared
from .job import Job, new_job_id
from .middleware import EnqueueCall, run_after_enqueue, run_before_enqueue
from .options import JobOptions
from .retry import RetryPolicy

#: Jobs per script call in enqueue_many (about 50 ms of server time); every call of a
#: batch goes in one pipeline. A batch of up to this many is written atomically.
ENQUEUE_CHUNK = 5000

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

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "concurrency": self.concurrency,
            "tags": list(self.tags),
            "running": self.running,
            "waiting": self.waiting,
            "pending": self.pending,
            "dead": self.dead,
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
    ) -> QueueConfig:
        """Create the queue or replace its settings; running workers pick them up at once.

        The declaration is the whole configuration: a setting left out takes its
        default. Lowering the limit lets running jobs finish.
        """
        settings = {
            "concurrency": concurrency,
            "tags": tags,
            "result_ttl": result_ttl,
            "retry": retry,
            "max_reclaims": max_reclaims,
        }
        return self.connection.run(declare_steps(self.connection.keys, declared(self.name, settings)))

    def config(self) -> QueueConfig:
        return self.connection.run(config_steps(self.keys))

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
        enqueues = run_before_enqueue(self.name, calls)  # middleware may set options and meta
        rows = [_row(call, self.connection.max_payload_bytes) for call in enqueues]
        sending = max((len(row[1]) for row in rows), default=0)
        ids = self.connection.run(enqueue_steps(self.keys, rows), sending=sending)
        jobs = [Job(job_id, self.name, self.connection) for job_id in ids]
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


def _row(call: EnqueueCall, max_payload_bytes: int) -> Row:
    """The enqueue.lua values of one call: job id ('' to take the entry id), entry value, delay ms."""
    name, opts = call.function, call.options
    payload = encode_call(call.args, call.kwargs, call.meta)
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


# -- the steps of each Queue method, shared with rqueues.aio ---------------------------


def declared(name: str, settings: Mapping[str, Any]) -> QueueConfig:
    """The config that declare(**settings) writes; an unknown setting is named."""
    fields = {f.name for f in dataclasses.fields(QueueConfig)} - {"name", "version"}
    unknown = sorted(set(settings) - fields)
    if unknown:
        raise ConfigurationError(
            f"unknown queue setting(s) {', '.join(unknown)}; known: {', '.join(sorted(fields))}"
        )
    values = dict(settings)
    values["tags"] = tuple(values.get("tags") or ())
    values["retry"] = values.get("retry") or RetryPolicy()
    return QueueConfig(name, **values)


def declare_steps(keyspace: Keyspace, config: QueueConfig) -> Steps[QueueConfig]:
    """Create the queue's group and write its settings; the registry is written last, so a
    worker sees only fully declared queues."""
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
        ],
        transaction=True,
    )
    yield Ops([Cmd("SADD", keyspace.queues, config.name)])
    return dataclasses.replace(config, version=int(replies[1]))


def config_steps(keys: QueueKeys) -> Steps[QueueConfig]:
    (raw,) = yield Ops([Cmd("HGETALL", keys.config)])
    if not raw:
        raise QueueNotDeclared(keys.name)
    return QueueConfig.from_hash(keys.name, raw)


def enqueue_steps(keys: QueueKeys, rows: Sequence[Row]) -> Steps[list[str]]:
    """Write the rows (see _row) all or nothing; the job ids.

    A batch of up to ENQUEUE_CHUNK rows is one script call. A larger one is checked
    whole first (one more round trip), then written in calls of ENQUEUE_CHUNK rows in
    one pipeline: a writer that creates one of its ids between the check and the write
    gets that call refused while the other calls go through.
    """
    if not rows:
        return []
    chosen = [row[0] for row in rows if row[0]]
    seen: set[str] = set()
    for job_id in chosen:
        if job_id in seen:
            raise DuplicateJob(f"the batch names job id {job_id!r} twice")
        seen.add(job_id)
    try:
        if len(rows) <= ENQUEUE_CHUNK:  # one script call: no pipeline needed
            entries = yield Script(scripts.enqueue(keys, rows))
        else:
            yield from _check_free(keys, chosen)
            chunks = range(0, len(rows), ENQUEUE_CHUNK)
            replies = yield Ops([scripts.enqueue(keys, rows[i : i + ENQUEUE_CHUNK]) for i in chunks])
            entries = [entry for reply in replies for entry in reply]
    except redis.ResponseError as exc:
        _raise(keys.name, exc)
    # A job to run now is known by its queue and entry, unless it was given an id of its own.
    return [row[0] or generated_id(keys.name, entry) for row, entry in zip(rows, entries, strict=True)]


def _check_free(keys: QueueKeys, ids: Sequence[str]) -> Steps[None]:
    """Raise DuplicateJob naming the first of ``ids`` taken by a job (one round trip)."""
    found = yield Ops([c for i in ids for c in (Cmd("HEXISTS", keys.ids, i), Cmd("EXISTS", keys.job(i)))])
    for job_id, queued, recorded in zip(ids, found[0::2], found[1::2], strict=True):
        if queued or recorded:
            raise DuplicateJob(f"a job with id {job_id!r} already exists in queue {keys.name!r}")


def _raise(queue: str, error: redis.ResponseError) -> NoReturn:
    if isinstance(error, redis.exceptions.OutOfMemoryError):
        raise error  # enqueue.lua is refused whole; the connection names the server
    text = str(error)
    if text.startswith("NOQUEUE"):
        raise QueueNotDeclared(queue) from None
    if text.startswith("DUPLICATE"):
        job_id = text.partition(" ")[2]
        raise DuplicateJob(f"a job with id {job_id!r} already exists in queue {queue!r}")
    raise error


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
        out.append(QueueInfo(name, config.concurrency, config.tags, c.in_use, c.waiting, c.pending, c.dead))
    return out
