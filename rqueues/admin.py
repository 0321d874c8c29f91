"""A queue's lifecycle beyond declare: purge its backlog, delete it with every key."""

from __future__ import annotations

from dataclasses import dataclass

from .backend import scripts
from .backend.keys import QueueKeys
from .backend.replies import Verdict
from .backend.store import Store
from .backend.workers import consumers_of
from .errors import QueueBusy, QueueNotDeclared
from .liveness import DEAD_AFTER

#: Jobs dropped per script call: each call holds Redis for well under a millisecond per job.
PURGE_BATCH = 1000
SCAN_BATCH = 500


@dataclass(frozen=True)
class Purged:
    waiting: int
    scheduled: int

    @property
    def total(self) -> int:
        return self.waiting + self.scheduled


def purge_queue(store: Store, name: str) -> Purged:
    """Drop the waiting and scheduled jobs of ``name``; running jobs are left alone."""
    keys = store.keys.queue(name)
    with store.guard():
        if not store.redis.exists(keys.config):
            raise QueueNotDeclared(name)
        waiting = scheduled = 0
        while True:
            reply = store.scripts.run(scripts.purge(keys, PURGE_BATCH))
            waiting, scheduled = waiting + reply.waiting, scheduled + reply.scheduled
            if not reply.more:
                return Purged(waiting, scheduled)


def consumers(store: Store, name: str, dead_after: float = DEAD_AFTER) -> list[str]:
    """Live workers whose registry entry says they consume ``name``."""
    return sorted(consumers_of(store, {name}, dead_after)[name])


def delete_queue(store: Store, name: str, *, force: bool = False, drop_running: bool = False) -> int:
    """Remove ``name`` and every key of it; returns how many keys were removed.

    Refused (QueueBusy) while live workers consume it, unless ``force``, and while
    jobs of it run, unless ``drop_running`` (their outcomes are then discarded).
    """
    keys = store.keys.queue(name)
    with store.guard():
        busy = consumers(store, name)
        if busy and not force:
            raise QueueBusy(
                f"queue {name!r} is consumed by {len(busy)} live worker(s) ({', '.join(busy)}): "
                "stop them, or pass force=True (--force); they drop the queue at their next refresh"
            )
        reply = store.scripts.run(scripts.drop_queue(keys, drop_running))
        if reply.verdict is Verdict.MISSING:
            raise QueueNotDeclared(name)
        if reply.verdict is Verdict.WRONG_STATE:
            raise QueueBusy(
                f"queue {name!r} has {reply.detail} running job(s): wait for them, or pass "
                "drop_running=True (--drop-running) to delete the queue anyway"
            )
        store.redis.srem(store.keys.queues, name)
        store.redis.srem(store.keys.cron_queues, name)  # its schedules went with its keys
        return int(reply.detail) + _drop_records(store, keys)


def _drop_records(store: Store, keys: QueueKeys) -> int:
    """Unlink every job record of the queue: a SCAN of its slot, the one place that walks keys."""
    removed, cursor = 0, 0
    while True:
        cursor, found = store.scan(cursor, keys.job_prefix + "*", SCAN_BATCH, keys.config)
        if found:
            removed += int(store.redis.unlink(*found))
        if cursor == 0:
            return removed
