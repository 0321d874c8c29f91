"""Job records (plain data) and Job handles (an id plus a connection)."""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic

from .backend import dependencies, lookup, scripts
from .backend.entries import queue_of
from .backend.keys import Keyspace, QueueKeys
from .backend.replies import HandleReply, Verdict
from .backend.steps import Block, Cmd, Ops, Script, Steps
from .backend.store import Store, as_store
from .errors import DuplicateJob, JobCancelled, JobFailed, JobNotFound, WaitTimeout
from .record import PROGRESS_FIELDS, JobRecord, Progress
from .record import iso as iso

if TYPE_CHECKING:  # a bare Job means Job[Any]; typing's own TypeVar takes a default from 3.13
    from typing_extensions import TypeVar

    R = TypeVar("R", default=Any)
else:
    from typing import TypeVar

    R = TypeVar("R")

STATES = ("scheduled", "deferred", "queued", "running", "succeeded", "failed", "cancelled", "dead")
TERMINAL = frozenset({"succeeded", "failed", "cancelled", "dead"})
_WAIT_CHUNK = 5.0  # re-read the record at least this often while waiting


def new_job_id() -> str:
    """The id of a delayed job, which has a record before it has an entry: time-ordered and
    unique, 12 hex digits of ms since the epoch and 10 random. A job to run now is known
    by its stream entry's id instead (see backend/entries.py)."""
    return f"{time.time_ns() // 1_000_000:012x}{os.urandom(5).hex()}"


class JobHandle:
    """What the Job of either client is: an id, a queue and a connection, equal by id and
    queue; every read asks Redis (the methods are the clients' own)."""

    connection: Any

    def __init__(self, job_id: str, queue: str, connection: Any, *, duplicate: bool = False) -> None:
        self.id = job_id
        self.queue = queue
        self.connection = connection
        #: True when an enqueue returned this job because it holds the unique key asked for
        #: (the enqueue added nothing).
        self.duplicate = duplicate
        self._keys: QueueKeys = connection.keys.queue(queue)

    def __repr__(self) -> str:
        extra = ", duplicate=True" if self.duplicate else ""
        return f"{type(self).__name__}({self.id!r}, queue={self.queue!r}{extra})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, JobHandle)
            and type(other) is type(self)
            and (other.id, other.queue) == (self.id, self.queue)
        )

    def __hash__(self) -> int:
        return hash((self.id, self.queue))


class Job(JobHandle, Generic[R]):
    """A handle on one job. It holds no state of its own: every read asks Redis.

    ``Job[R]`` is the job of a function returning R (``@task`` gives typed ones).
    Each method runs the steps below, which the asyncio client's Job runs too."""

    connection: Store

    @classmethod
    def fetch(cls, job_id: str, connection: Any = None, queue: str | None = None) -> Job:
        """Find a job by id, in ``queue`` or else in any declared queue."""
        conn = as_store(connection)
        return cls(job_id, conn.run(fetch_steps(conn.keys, job_id, queue)), conn)

    def record(self) -> JobRecord:
        """The job's record; a job that waits in its stream entry alone reads from the entry."""
        return self.connection.run(record_steps(self._keys, self.id))

    @property
    def state(self) -> str:
        return self.connection.run(state_steps(self._keys, self.id))

    @property
    def progress(self) -> Progress | None:
        """The job's latest progress report (``current_job().progress(...)``), None before its
        first; written by its worker about once a second while it runs, and kept when it ends."""
        with self.connection.guard():
            values = self.connection.redis.hmget(self._keys.job(self.id), PROGRESS_FIELDS)
        return Progress.from_hash({f.encode(): v for f, v in zip(PROGRESS_FIELDS, values, strict=True)})

    @property
    def result(self) -> Any:
        """The return value once succeeded, else None."""
        rec = self.record()
        return rec.result if rec.state == "succeeded" else None

    def cancel(self) -> bool:
        """Cancel a queued job; False when it already started or finished."""
        return self.connection.run(cancel_steps(self.connection.keys, self._keys, self.id))

    def stop(self) -> bool:
        """Ask the worker running this job to stop it; False when it is not running.

        The worker's heartbeat passes the request on within about a second: the job
        sees ``current_job().cancelled`` and its record says 'cancelled' once it returns.
        """
        return self.connection.run(handle_steps(scripts.stop(self._keys, self.id), self._keys, self.id))

    def requeue(self) -> bool:
        """Put a dead-lettered or failed job back on its queue (same id, history kept)."""
        return self.connection.run(requeue_steps(self._keys, self.id))

    def wait(self, timeout: float | None = None) -> R:
        """Block until the job finishes; return its result or raise JobFailed.

        Blocks in Redis on the queue's events stream: the worker that completes a
        watched job adds an entry there, so no polling is involved. The state is
        re-read after every wake-up, not only when the job's own entry shows up: the
        stream is capped, and under traffic that entry may be trimmed before it is read.
        """
        result: R = outcome(self.connection.run(wait_steps(self._keys, self.id, timeout)))
        return result


# -- the steps of each Job method, shared with rqueues.aio ------------------------------


def _missing(keys: QueueKeys, job_id: str) -> JobNotFound:
    return JobNotFound(f"no job {job_id!r} in queue {keys.name!r} (never created, or expired)")


def fetch_steps(keyspace: Keyspace, job_id: str, queue: str | None) -> Steps[str]:
    """The queue of job ``job_id``: ``queue``, else the one its generated id names, else
    the first declared queue that holds it."""
    named = queue_of(job_id)  # a generated id says where its job is
    if queue or named:
        names = [queue or named or ""]
    else:
        (members,) = yield Ops([Cmd("SMEMBERS", keyspace.queues)])
        names = sorted(n.decode() for n in members)
    found = yield from lookup.exists_steps([keyspace.queue(n) for n in names], job_id)
    if True not in found:
        raise JobNotFound(f"no job {job_id!r}" + (f" in queue {queue!r}" if queue else ""))
    return names[found.index(True)]


def record_steps(keys: QueueKeys, job_id: str) -> Steps[JobRecord]:
    raw, entry = yield from lookup.find_steps(keys, job_id)
    if raw:
        record = JobRecord.from_hash(keys.name, job_id, raw)
        if record.state == "scheduled":
            (due,) = yield Ops([Cmd("ZSCORE", keys.scheduled, job_id)])
            if due is not None:
                record = dataclasses.replace(record, due_at=float(due) / 1000)
        return record
    if entry is None:
        raise _missing(keys, job_id)
    return JobRecord.from_entry(keys.name, entry)


def state_steps(keys: QueueKeys, job_id: str) -> Steps[str]:
    state = yield from lookup.state_steps(keys, job_id)
    if state is None:
        raise _missing(keys, job_id)
    return state


def cancel_steps(keyspace: Keyspace, keys: QueueKeys, job_id: str) -> Steps[bool]:
    reply = yield Script(scripts.cancel(keys, job_id))
    if reply.verdict is Verdict.MISSING:
        raise JobNotFound(f"no job {job_id!r} in queue {keys.name!r}")
    if reply.verdict is Verdict.DONE:
        # Its dependents hear of it now; the reaper's sweep retries what this misses.
        yield from dependencies.tell_steps(keyspace, [dependencies.Ref(keys.name, job_id)])
    return bool(reply.verdict is Verdict.DONE)


def requeue_steps(keys: QueueKeys, job_id: str) -> Steps[bool]:
    reply = yield Script(scripts.requeue(keys, job_id))
    if reply.verdict is Verdict.MISSING:
        yield from state_steps(keys, job_id)  # raises JobNotFound when there is no job at all
        return False
    if reply.detail.startswith("unique:"):  # its unique key is held by a newer job
        holder = reply.detail.partition(":")[2]
        raise DuplicateJob(f"job {holder!r} holds the unique key of job {job_id!r}: not requeued", holder)
    return bool(reply.verdict is Verdict.DONE)


def handle_steps(call: scripts.Call[HandleReply], keys: QueueKeys, job_id: str) -> Steps[bool]:
    """A stop or requeue: whether it acted. A job with no record may still be queued: it is
    then just not in a state the call acts on."""
    reply = yield Script(call)
    if reply.verdict is Verdict.MISSING:
        yield from state_steps(keys, job_id)  # raises JobNotFound when there is no job at all
        return False
    return bool(reply.verdict is Verdict.DONE)


def wait_steps(
    keys: QueueKeys, job_id: str, timeout: float | None, clock: Callable[[], float] = time.monotonic
) -> Steps[JobRecord]:
    """Block in Redis until the job is finished; its final record."""
    deadline = None if timeout is None else clock() + timeout
    watched = yield Script(scripts.watch(keys, job_id))
    if watched is None:
        raise JobNotFound(f"no job {job_id!r} in queue {keys.name!r}")
    state, last = watched.state, watched.events_id
    while state not in TERMINAL:
        chunk = _WAIT_CHUNK
        if deadline is not None:
            chunk = min(chunk, deadline - clock())
            if chunk <= 0:
                raise WaitTimeout(f"job {job_id} still {state} after {timeout}s")
        reply = yield Block({keys.events: last}, chunk)
        if reply and reply[0][1]:
            last = reply[0][1][-1][0]
        state = yield from state_steps(keys, job_id)
    return (yield from record_steps(keys, job_id))


def outcome(rec: JobRecord) -> Any:
    """A finished record's result, or the matching exception."""
    if rec.state == "succeeded":
        return rec.result
    if rec.state == "cancelled":
        raise JobCancelled(f"job {rec.id} was cancelled" + (f": {rec.reason}" if rec.reason else ""))
    err = rec.error or {}
    raise JobFailed(rec.id, err.get("type", ""), err.get("message", ""), err.get("traceback", ""))
