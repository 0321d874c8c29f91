"""Typed replies of the Lua scripts: the one place that reads their raw arrays.

Each parser takes what Redis returned for one script call and gives a frozen
record (or an enum), so no other module indexes a raw reply.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

# Re-exported: they lived here before entries.py read both entry shapes.
from .entries import NO_JOB_ID, job_id_of


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class ClaimKind(enum.IntEnum):
    """What a claim found."""

    CLAIMED = 0  # entries taken, each with a lease
    EMPTY = 1  # nothing waiting: block on the stream and the events stream
    CAPPED = 2  # the limit is reached: block on the events stream
    GONE = 3  # the queue is no longer declared
    STALE = 4  # the queue's config changed since the caller read it: re-read, re-route
    PAUSED = 5  # the queue is paused: block on the events stream (resume wakes it)
    RATED = 6  # the rate limit is reached: block on the events stream until permit_ms


class Delivery(NamedTuple):
    """One delivery a claim took, with its lease: its stream entry and its job.

    A delivery ``started`` by the claim carries what running it needs. Otherwise the
    job's record is missing (``raw_job`` is set too when the job id is not UTF-8, and
    ``job_id`` is then NO_JOB_ID): it is dead-lettered with the reason. (A named tuple:
    a claim makes one per job, and a frozen dataclass costs several times as much.)
    """

    entry: str
    job_id: str
    started: bool = True
    function: str = ""
    payload: bytes = b""
    attempts: int = 0
    options: bytes = b""
    enqueued_ms: int | None = None
    raw_job: bytes | None = None

    @property
    def valid(self) -> bool:
        return self.raw_job is None

    @classmethod
    def parse(cls, raw: Sequence[Any]) -> Delivery:
        status, entry, job, fn, payload, attempts, options, enqueued = raw
        job_id = job_id_of(job)
        if job_id is None:
            return cls(_text(entry), NO_JOB_ID, False, raw_job=bytes(job))
        if _text(status) != "run":
            return cls(_text(entry), job_id, False)
        return cls(
            _text(entry), job_id, True, _text(fn), bytes(payload or b""), int(attempts or 0),
            bytes(options or b""), int(enqueued) if enqueued else None,
        )  # fmt: skip


#: Values per delivery in a claim's reply.
_PER_DELIVERY = 8


@dataclass(frozen=True)
class ClaimReply:
    kind: ClaimKind
    now_ms: int  # the server's clock
    due_ms: int | None  # when the earliest scheduled job is due, if any
    stream_id: str  # block on the stream after this id (EMPTY)
    events_id: str  # block on the events stream after this id (EMPTY, CAPPED)
    deliveries: tuple[Delivery, ...]
    permit_ms: int | None = None  # RATED: when the rate limit gives its next permit

    @classmethod
    def parse(cls, raw: Sequence[Any]) -> ClaimReply:
        kind, now_ms, due_ms, stream_id, events_id, *rest = raw
        what = ClaimKind(int(kind))
        if what is ClaimKind.RATED:
            permit, rest = int(rest[0]), []
        else:
            permit = None
        n = _PER_DELIVERY
        deliveries = tuple(Delivery.parse(rest[i : i + n]) for i in range(0, len(rest), n))
        due = int(due_ms)
        return cls(
            what, int(now_ms), due if due >= 0 else None,
            _text(stream_id), _text(events_id), deliveries, permit,
        )  # fmt: skip


class GiveBack(enum.Enum):
    """What happened to one delivery given back."""

    QUEUED = "queued"  # a new entry waits in the stream
    DEAD = "dead"  # reclaimed too often: dead-lettered
    DROPPED = "dropped"  # the job was cancelled or finished: the leftover delivery is dropped
    GONE = "gone"  # the delivery was no longer pending (or the record is missing): nothing done

    @classmethod
    def parse_all(cls, raw: Sequence[Any]) -> list[GiveBack]:
        return [cls(_text(r)) for r in raw]


class Dropped(enum.IntEnum):
    """What drop_consumer.lua did with one consumer."""

    GONE = 1  # deleted, or it did not exist
    KEPT = 0  # entries are pending for it: left for the reaper
    NO_GROUP = -1  # the stream or its group does not exist

    @classmethod
    def parse(cls, raw: Any) -> Dropped:
        return cls(int(raw))


class Verdict(enum.Enum):
    """The reply of a job handle's operation (cancel, stop, requeue)."""

    DONE = 1
    WRONG_STATE = 0
    MISSING = -1


@dataclass(frozen=True)
class HandleReply:
    verdict: Verdict
    detail: str = ""  # the job's state (WRONG_STATE) or the worker asked to stop (stop DONE)

    @classmethod
    def parse(cls, raw: Sequence[Any]) -> HandleReply:
        return cls(Verdict(int(raw[0])), _text(raw[1]) if len(raw) > 1 else "")


@dataclass(frozen=True)
class WatchReply:
    state: str
    events_id: str

    @classmethod
    def parse(cls, raw: Sequence[Any]) -> WatchReply | None:
        return cls(_text(raw[0]), _text(raw[1])) if raw else None


@dataclass(frozen=True)
class PurgeReply:
    waiting: int  # waiting jobs dropped
    scheduled: int  # scheduled jobs dropped
    more: bool  # another call may find more

    @classmethod
    def parse(cls, raw: Sequence[Any]) -> PurgeReply:
        waiting, scheduled, more = raw
        return cls(int(waiting), int(scheduled), bool(int(more)))


def texts(raw: Sequence[Any]) -> list[str]:
    """A reply that is a list of strings (entry ids, job ids)."""
    return [_text(r) for r in raw]


@dataclass(frozen=True)
class Completed:
    """complete.lua's reply: how many deliveries it completed, and the finished jobs among
    them that have dependents to tell (rqueues/backend/dependencies.py)."""

    count: int
    noted: tuple[str, ...] = ()

    @classmethod
    def parse(cls, raw: Any) -> Completed:
        if isinstance(raw, (list, tuple)):
            return cls(int(raw[0]), tuple(_text(r) for r in raw[1:]))
        return cls(int(raw))


@dataclass(frozen=True)
class Resolved:
    """resolve.lua's reply: what became of the dependent, and whether it (cancelled) has
    dependents of its own to tell."""

    status: str  # 'ignored', 'waiting', 'queued' or 'cancelled'
    noted: bool

    @classmethod
    def parse(cls, raw: Sequence[Any]) -> Resolved:
        return cls(_text(raw[0]), bool(int(raw[1])))
