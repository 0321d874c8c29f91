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

#: Commands per queue that queue_commands() adds to a pipeline.
PER_QUEUE = 10


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


def queue_commands(pipe: Any, keys: QueueKeys, now_ms: int) -> None:
    """Add the PER_QUEUE commands that read one queue's counts to ``pipe``."""
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


def parse_counts(replies: Sequence[Any]) -> QueueCounts:
    """The counts from the PER_QUEUE replies of queue_commands() (errors read as nothing)."""
    config, groups, length, pending, in_use, leases, scheduled, due, dead, stats = replies
    group = _group(groups)
    npending = 0
    by_consumer: dict[str, int] = {}
    if isinstance(pending, dict):
        npending = int(pending.get("pending") or 0)
        for c in pending.get("consumers") or []:
            by_consumer[c["name"].decode()] = int(c["pending"])
    lag = group.get("lag") if group else None
    # Acknowledged entries are deleted, so whatever of the stream is not pending waits:
    # the lag can never be more. Redis 7.0 loses the group's entries-read counter on a
    # restart from its AOF and then reports a lag above that bound, a backlog that is
    # not there: report the bound, and the lag as unknown.
    bound = max(0, as_int(length) - npending)
    lag_known = isinstance(lag, int) and 0 <= lag <= bound
    waiting = lag if lag_known and isinstance(lag, int) else bound
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
    secs, micros = pipe.execute()[0]
    now_ms = int(secs) * 1000 + int(micros) // 1000

    def reads(pipe: Any) -> None:
        for name in names:
            queue_commands(pipe, store.keys.queue(name), now_ms)

    replies = read_together(store, reads)
    out = {}
    for i, name in enumerate(names):
        counts = parse_counts(replies[i * PER_QUEUE : (i + 1) * PER_QUEUE])
        if counts.config:
            out[name] = counts
    return out


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
