"""A queue's counts read in one pipeline: the one definition of waiting, pending, in use.

``Queue.info()`` and the cluster snapshot (``info``, ``top``, the exporter)
both read them here, so they can never disagree on what "waiting" means.
The cost is a fixed number of commands per queue, never a walk over jobs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from redis.exceptions import OutOfMemoryError

from .keys import GROUP, QueueKeys
from .levels import ordered

#: Commands per queue that queue_commands() adds to a pipeline, and per priority level
#: stream in use (levels.py) on top of those.
PER_QUEUE = 10
PER_LEVEL = 3


def commands_per_queue(levels: Sequence[int] = ()) -> int:
    return PER_QUEUE + PER_LEVEL * len(levels)


def levels_in_use(replies: Any) -> list[int]:
    """The priority levels other than 0 from a reply of HKEYS on a queue's levels hash."""
    return [lv for lv in ordered(replies) if lv] if isinstance(replies, list) else []


@dataclass(frozen=True)
class QueueCounts:
    """One queue's counts; ``config`` is the raw config hash (empty: not declared)."""

    config: Mapping[bytes, bytes]
    waiting: int  # entries not yet delivered to any worker
    # False when Redis could not tell the group's lag (KEDA's lagCount sees none) or told one
    # the stream cannot hold (KEDA's lagCount sees a backlog that is not there)
    lag_known: bool
    pending: int  # delivered, not yet acknowledged
    pending_by_consumer: Mapping[str, int]
    in_use: int  # unexpired leases
    expired_leases: int  # leases past their expiry not yet pruned
    scheduled: int
    scheduled_due: int
    dead: int
    stats: Mapping[bytes, bytes] = field(default_factory=dict)
    last_delivered: str | None = None  # the group's last delivered entry id


def queue_commands(pipe: Any, keys: QueueKeys, now_ms: int, levels: Sequence[int] = ()) -> None:
    """Add the commands_per_queue(levels) commands that read one queue's counts to ``pipe``:
    its stream's and those of the priority ``levels`` in use (levels_in_use)."""
    pipe.hgetall(keys.config)
    pipe.xinfo_groups(keys.stream)
    pipe.xlen(keys.stream)
    pipe.xpending(keys.stream, GROUP)
    pipe.zcount(keys.leases, now_ms + 1, "+inf")
    pipe.zcard(keys.leases)
    pipe.zcard(keys.scheduled)
    pipe.zcount(keys.scheduled, "-inf", now_ms)
    pipe.xlen(keys.dead)
    pipe.hgetall(keys.stats)
    for level in levels:
        stream = keys.level_stream(level)
        pipe.xinfo_groups(stream)
        pipe.xlen(stream)
        pipe.xpending(stream, GROUP)


def _stream_counts(
    groups: Any, length: Any, pending: Any, by_consumer: dict[str, int]
) -> tuple[int, bool, int]:
    """One stream's (waiting, lag known, pending); adds its pending per consumer to ``by_consumer``."""
    group = _group(groups)
    npending = 0
    if isinstance(pending, dict):
        npending = int(pending.get("pending") or 0)
        for c in pending.get("consumers") or []:
            name = c["name"].decode()
            by_consumer[name] = by_consumer.get(name, 0) + int(c["pending"])
    lag = group.get("lag") if group else None
    # Acknowledged entries are deleted, so whatever of the stream is not pending waits:
    # the lag can never be more. Redis 7.0 loses the group's entries-read counter on a
    # restart from its AOF and then reports a lag above that bound, a backlog that is
    # not there: report the bound, and the lag as unknown.
    bound = max(0, as_int(length) - npending)
    lag_known = isinstance(lag, int) and 0 <= lag <= bound
    waiting = lag if lag_known and isinstance(lag, int) else bound
    return waiting, lag_known, npending


def parse_counts(replies: Sequence[Any]) -> QueueCounts:
    """The counts from the replies of queue_commands() (errors read as nothing): waiting
    and pending summed over the queue's stream and its priority levels' streams."""
    config, groups, length, pending, in_use, leases, scheduled, due, dead, stats = replies[:PER_QUEUE]
    by_consumer: dict[str, int] = {}
    waiting, lag_known, npending = _stream_counts(groups, length, pending, by_consumer)
    for i in range(PER_QUEUE, len(replies), PER_LEVEL):
        more = _stream_counts(replies[i], replies[i + 1], replies[i + 2], by_consumer)
        waiting, lag_known, npending = waiting + more[0], lag_known and more[1], npending + more[2]
    group = _group(groups)
    last = group.get("last-delivered-id") if group else None
    return QueueCounts(
        config=config if isinstance(config, dict) else {},
        waiting=waiting,
        lag_known=lag_known,
        pending=npending,
        pending_by_consumer=by_consumer,
        in_use=as_int(in_use),
        expired_leases=max(0, as_int(leases) - as_int(in_use)),
        scheduled=as_int(scheduled),
        scheduled_due=as_int(due),
        dead=as_int(dead),
        stats=stats if isinstance(stats, dict) else {},
        last_delivered=last.decode() if isinstance(last, bytes) else None,
    )


def read_together(store: Any, queue_it: Callable[[Any], None]) -> list[Any]:
    """Replies of the reads ``queue_it(pipe)`` adds, in one round trip, as one consistent view
    (a transaction) where every key is on one server; errors come back as replies.

    Redis 7.0 refuses every command queued in a transaction while it is out of memory,
    reads included: then the reads go in a plain pipeline, so the counts stay visible.
    """
    pipe = store.redis.pipeline(transaction=not store.cluster)
    queue_it(pipe)
    try:
        return list(pipe.execute(raise_on_error=False))
    except OutOfMemoryError:
        pipe = store.redis.pipeline(transaction=False)
        queue_it(pipe)
        return list(pipe.execute(raise_on_error=False))


def read_counts(store: Any, names: Sequence[str]) -> dict[str, QueueCounts]:
    """Counts of ``names`` in one round trip, by Redis' clock; undeclared queues are left out."""
    pipe = store.redis.pipeline(transaction=False)
    pipe.execute_command("TIME")  # redis-py refuses pipe.time() in a cluster pipeline
    for name in names:
        pipe.hkeys(store.keys.queue(name).levels)
    clock, *found = pipe.execute(raise_on_error=False)
    secs, micros = clock
    now_ms = int(secs) * 1000 + int(micros) // 1000
    levels = [levels_in_use(f) for f in found]
    return {
        name: counts
        for name, counts in zip(names, read_queue_counts(store, names, levels, now_ms), strict=True)
        if counts.config
    }


def read_queue_counts(
    store: Any,
    names: Sequence[str],
    levels: Sequence[Sequence[int]],
    now_ms: int,
    extra: Callable[[Any], None] | None = None,
) -> list[Any]:
    """The counts of each of ``names`` (with its priority ``levels`` in use), as one
    consistent read (read_together), then the replies of what ``extra(pipe)`` adds."""

    def reads(pipe: Any) -> None:
        for name, lv in zip(names, levels, strict=True):
            queue_commands(pipe, store.keys.queue(name), now_ms, lv)
        if extra is not None:
            extra(pipe)

    replies = read_together(store, reads)
    out: list[Any] = []
    at = 0
    for lv in levels:
        n = commands_per_queue(lv)
        out.append(parse_counts(replies[at : at + n]))
        at += n
    return out + replies[at:]


def _group(groups: Any) -> dict[str, Any] | None:
    if not isinstance(groups, list):
        return None  # no stream yet
    for g in groups:
        if g.get("name") == GROUP.encode():
            return dict(g)
    return None


def as_int(value: Any) -> int:
    """A count from a reply; an error or nothing reads as 0."""
    if isinstance(value, Exception) or value is None:
        return 0
    try:
        return int(str(value.decode() if isinstance(value, bytes) else value))
    except (TypeError, ValueError):
        return 0
