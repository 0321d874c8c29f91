"""What a stopping worker does in Redis: wake its own blocking read, hand back unfinished
jobs at once (no lease left to expire), leave the consumer groups and the registry."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

import redis

from .. import defaults
from ..backend import scripts
from ..backend.replies import Dropped
from ..backend.store import Store
from .execution import Claimed
from .heartbeat import Heartbeat
from .held import Held

log = logging.getLogger("rqueues.worker")


def wake(conn: Store, queues: Iterable[str], worker_id: str) -> None:
    """End a dispatcher's blocking read now instead of at its timeout.

    Other workers idle on these queues wake once too, find nothing and block again.
    """
    try:
        pipe = conn.redis.pipeline(transaction=False)
        for name in queues:
            # NOMKSTREAM: a queue deleted meanwhile must not get its events stream back.
            pipe.xadd(
                conn.keys.queue(name).events, {"wake": worker_id}, maxlen=defaults.EVENTS_MAXLEN,
                approximate=True, nomkstream=True,
            )  # fmt: skip
        pipe.execute()
    except Exception:  # best effort (a cluster being torn down raises its own errors): the
        pass  # read ends at its timeout anyway


def hand_back(conn: Store, held: Held, jobs: Sequence[Claimed]) -> None:
    """Give running jobs back to their queues now, releasing their leases."""
    for job in jobs:
        job.cancel.set()  # cooperative jobs can end early; the others are abandoned
    by_queue: dict[str, list[Claimed]] = {}
    for job in jobs:
        by_queue.setdefault(job.queue, []).append(job)
    try:
        for name, items in by_queue.items():
            conn.scripts.giveback(
                conn.keys.queue(name), [(j.entry, j.job_id) for j in items],
                reclaim=False, max_reclaims=0, reason="worker stopping", error=b"",
            )  # fmt: skip
        held.remove(jobs)
        log.warning("handed back %d unfinished job(s) to their queues", len(jobs))
    except redis.RedisError as exc:
        log.error("could not hand back %d job(s) (%s); the reaper will", len(jobs), exc)


def leave(conn: Store, worker_id: str, consumed: Iterable[str], heartbeat: Heartbeat) -> None:
    """Leave the consumer groups where nothing is pending for us, then the registry.

    Each check and delete is one script (drop_consumer.lua): DELCONSUMER would drop
    pending entries, which stay for the reaper.
    """
    batch = conn.scripts.batch()
    drops = [batch.add(scripts.drop_consumer(conn.keys.queue(name), worker_id)) for name in sorted(consumed)]
    batch.execute()
    if all(d.error is None and d.get() is not Dropped.KEPT for d in drops):
        heartbeat.deregister()
