"""Pages of a queue's per-state indexes: what a listing reads instead of a SCAN.

Every state has an ordered index of its own: running jobs the leases (members are
delivery entry ids), queued ones the stream after the group's last delivered entry,
scheduled ones their zset (by due time), deferred ones (waiting for their parents) their
zset (by enqueued_at), succeeded, failed and cancelled ones their
finished index (by finished_at, see finished_index.lua), dead ones the dead-letter
stream. An ``Index`` reads one of them from a mark (where the previous page ended) in
at most two pipelined rounds (``look`` where the mark is, then ``read`` a range after
it), so one page of many indexes costs two round trips, and O(log n + page) each.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import redis

from ..errors import ConfigurationError
from .entries import NO_JOB_ID, job_id_of, read_entry
from .keys import FINISHED_STATES, GROUP, QueueKeys
from .levels import RETURNED, level_of

#: A position in an index, as JSON can carry it: [score, member] in a zset, an entry id
#: in a stream; None before the first page.
Mark = Any


@dataclass(frozen=True)
class Hit:
    """One job an index lists, with where it sits in the index."""

    queue: str
    state: str
    job_id: str | None  # None for a running delivery until its entry is read (deliveries.py)
    entry: str | None  # the delivery's stream entry (queued, running) or the dead letter
    order: tuple[float, Any]  # (time ms, tie-break within the index): how pages merge
    mark: Mark  # the position just past this hit
    fields: dict[bytes, bytes] = field(default_factory=dict)  # a queued job's entry


class Index:
    """One queue's index of one state; subclasses say how it is read."""

    #: Listed newest first (True) or next to run first.
    newest_first = True

    def __init__(self, keys: QueueKeys, state: str, mark: Mark = None) -> None:
        self.keys = keys
        self.state = state
        if mark is not None and not self.valid(mark):
            raise ConfigurationError(f"invalid cursor: {mark!r} is no position in the {state} jobs")
        self.mark = mark

    def valid(self, mark: Mark) -> bool:
        """Whether ``mark`` (from a cursor, so from anyone) is a position in this index."""
        return isinstance(mark, str) and _is_entry(mark)

    def look(self, pipe: Any) -> None:
        """Queue the commands that find where ``mark`` is now (none by default)."""

    def read(self, pipe: Any, looked: Sequence[Any], count: int) -> None:
        """Queue the commands that read up to ``count`` hits past ``mark``."""
        raise NotImplementedError

    def hits(self, replies: Sequence[Any]) -> list[Hit]:
        """The hits in what ``read`` got back, in listing order."""
        raise NotImplementedError

    def _hit(self, job: str | None, entry: str | None, order: tuple[float, Any], mark: Mark) -> Hit:
        return Hit(self.keys.name, self.state, job, entry, order, mark)


class ZsetIndex(Index):
    """A zset of job ids: a finished index (newest first) or the scheduled set (soonest
    first). A mark is [score, member]: the page after it starts one rank past the member
    while it still has that score; once the member left or moved, it starts at the score,
    past the members of that score that came before the mark (a zset orders equal
    scores by member), so none is skipped or repeated."""

    _past: tuple[float, str] | None = None  # set when a read starts at the mark's score

    def __init__(self, keys: QueueKeys, state: str, mark: Mark = None) -> None:
        super().__init__(keys, state, mark)
        self.newest_first = state not in ("scheduled", "deferred")
        waiting = {"scheduled": keys.scheduled, "deferred": keys.deferred}
        self.key = waiting[state] if state in waiting else keys.finished(state)

    def valid(self, mark: Mark) -> bool:
        return (
            isinstance(mark, list)
            and len(mark) == 2
            and isinstance(mark[0], (int, float))
            and not isinstance(mark[0], bool)
            and math.isfinite(mark[0])
            and isinstance(mark[1], str)
        )

    def look(self, pipe: Any) -> None:
        if self.mark is not None:
            score, member = self.mark
            pipe.zscore(self.key, member)
            (pipe.zrevrank if self.newest_first else pipe.zrank)(self.key, member)
            pipe.zcount(self.key, _number(score), _number(score))

    def read(self, pipe: Any, looked: Sequence[Any], count: int) -> None:
        if self.mark is None:
            start = 0
        else:
            score, rank, ties = (_ok(r) for r in looked)
            if score is None or rank is None or float(score) != float(self.mark[0]):
                self._past = (float(self.mark[0]), self.mark[1])
                at, n = _number(self.mark[0]), int(ties) + count
                if self.newest_first:
                    pipe.zrevrangebyscore(self.key, at, "-inf", 0, n, withscores=True)
                else:
                    pipe.zrangebyscore(self.key, at, "+inf", 0, n, withscores=True)
                return
            start = int(rank) + 1
        pipe.zrange(self.key, start, start + count - 1, desc=self.newest_first, withscores=True)

    def hits(self, replies: Sequence[Any]) -> list[Hit]:
        out = []
        for member, score in _ok(replies[0]):
            job = job_id_of(member)
            if job is not None and not self._before_mark(score, job):
                out.append(self._hit(job, None, (score, job), [_plain(score), job]))
        return out

    def _before_mark(self, score: float, job: str) -> bool:
        if self._past is None or score != self._past[0]:
            return False
        return job >= self._past[1] if self.newest_first else job <= self._past[1]


class StreamIndex(Index):
    """A stream read by entry id: the waiting part of the queue's stream (oldest first,
    past the group's last delivered entry) or the dead letters (newest first)."""

    def __init__(self, keys: QueueKeys, state: str, mark: Mark = None) -> None:
        super().__init__(keys, state, mark)
        self.newest_first = state == "dead"
        self.key = keys.dead if state == "dead" else keys.stream

    def look(self, pipe: Any) -> None:
        if not self.newest_first:
            pipe.xinfo_groups(self.key)

    def read(self, pipe: Any, looked: Sequence[Any], count: int) -> None:
        if self.newest_first:
            pipe.xrevrange(self.key, f"({self.mark}" if self.mark else "+", "-", count=count)
            return
        start = self.mark
        delivered = _last_delivered(looked[0])
        if delivered is not None and (start is None or _entry(delivered) > _entry(start)):
            start = delivered
        pipe.xrange(self.key, f"({start}" if start else "-", "+", count=count)

    def hits(self, replies: Sequence[Any]) -> list[Hit]:
        out = []
        for raw_entry, fields in _ok(replies[0]):
            entry = raw_entry.decode()
            job = job_id_of(fields.get(b"job")) if self.newest_first else self._waiting(entry, fields)
            if job:
                hit = self._hit(job, entry, _entry(entry), entry)
                out.append(hit if self.newest_first else replace(hit, fields=dict(fields)))
        return out

    def _waiting(self, entry: str, fields: dict[bytes, bytes]) -> str | None:
        """The job a waiting entry holds: named by it (re-added) or carried in it (fresh)."""
        found = read_entry(self.keys.name, entry, fields)
        return found.job_id if found is not None and found.job_id != NO_JOB_ID else None


class QueuedIndex(Index):
    """Waiting jobs: the part past the group's last delivered entry of each stream of the
    queue, the priority levels' (levels.py) highest first, then its own: the order a claim
    takes them in. A mark is an entry id, which names its level. The look reads every
    possible level's group (a level not in use is a missing key, answered at once)."""

    newest_first = False
    _levels: list[int]

    def look(self, pipe: Any) -> None:
        for level in _LEVELS:
            pipe.xinfo_groups(self.keys.level_stream(level))

    def read(self, pipe: Any, looked: Sequence[Any], count: int) -> None:
        self._levels = []
        at = level_of(self.mark) if self.mark else None
        for level, reply in zip(_LEVELS, looked, strict=True):
            if (at is not None and level > at) or (level and isinstance(reply, Exception)):
                continue  # listed already, or a level not in use
            start = self.mark if level == at else None
            delivered = _last_delivered(reply)
            if delivered is not None and (start is None or _entry(delivered) > _entry(start)):
                start = delivered
            pipe.xrange(self.keys.level_stream(level), f"({start}" if start else "-", "+", count=count)
            self._levels.append(level)

    def hits(self, replies: Sequence[Any]) -> list[Hit]:
        out = []
        for level, reply in zip(self._levels, replies, strict=True):
            for raw_entry, fields in _ok(reply):
                entry = raw_entry.decode()
                found = read_entry(self.keys.name, entry, fields)
                if found is None or found.job_id == NO_JOB_ID:
                    continue
                # Higher levels first, then by time, also when queues are merged.
                order = (found.enqueued_ms - level * _LEVEL_SPAN, _entry(entry))
                out.append(replace(self._hit(found.job_id, entry, order, entry), fields=dict(fields)))
        return out


#: The levels a queued listing reads, in the order a claim takes them.
_LEVELS = tuple(range(RETURNED, -1, -1))
#: More ms than any entry id's time part holds: a level's jobs list before the next one's.
_LEVEL_SPAN = 10**14


class LeaseIndex(Index):
    """Running jobs: the leases, newest delivery first. A lease's score is its expiry,
    renewed every heartbeat, so pages go by member (the entry id) instead: the members
    are read whole, as many as jobs run at once (bounded by the workers' slots)."""

    _members: list[str]
    _count: int

    def look(self, pipe: Any) -> None:
        pipe.zrange(self.keys.leases, 0, -1)

    def read(self, pipe: Any, looked: Sequence[Any], count: int) -> None:
        self._members = [m.decode() for m in _ok(looked[0])]
        self._count = count

    def hits(self, replies: Sequence[Any]) -> list[Hit]:
        entries = sorted((_entry(m), m) for m in self._members if _is_entry(m))
        past = _entry(self.mark) if self.mark else None
        newer = [(order, m) for order, m in reversed(entries) if past is None or order < past]
        return [self._hit(None, m, order, m) for order, m in newer[: self._count]]


def index_of(keys: QueueKeys, state: str, mark: Mark = None) -> Index:
    """The index that lists ``state`` jobs of the queue ``keys``."""
    if state == "running":
        return LeaseIndex(keys, state, mark)
    if state == "queued":
        return QueuedIndex(keys, state, mark)
    if state == "dead":
        return StreamIndex(keys, state, mark)
    if state in ("scheduled", "deferred") or state in FINISHED_STATES:
        return ZsetIndex(keys, state, mark)
    raise ValueError(f"no index lists state {state!r}")


def _ok(reply: Any) -> Any:
    if isinstance(reply, Exception):
        raise reply
    return reply


def _last_delivered(reply: Any) -> str | None:
    """The group's last delivered entry from XINFO GROUPS; None when the stream or the
    group does not exist (nothing was delivered: every entry waits)."""
    if isinstance(reply, redis.ResponseError) and "no such key" in str(reply).lower():
        return None
    for group in _ok(reply):
        if group.get("name") in (GROUP, GROUP.encode()):
            last = group.get("last-delivered-id")
            return last.decode() if isinstance(last, bytes) else last
    return None


def _entry(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def _is_entry(value: str) -> bool:
    ms, _, seq = value.partition("-")
    return ms.isdigit() and (seq == "" or seq.isdigit())


def _plain(score: float) -> float | int:
    """A score as JSON writes it exactly: ms scores are integers."""
    return int(score) if float(score).is_integer() else float(score)


def _number(value: Any) -> str:
    """A score as a range bound Redis parses back to the same double."""
    return repr(_plain(float(value)))
