"""The one place that builds Redis key names.

Every key of a queue carries the hash tag ``{q:NAME}`` so that a queue lives in
one Redis Cluster slot and every Lua script touches one slot. Registries that
span queues live outside the queue slots and are never touched from a script.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from ..errors import ConfigurationError
from .levels import level_of, level_stream

#: Bumped when the layout of keys or records changes incompatibly
#: (2: a lease's member is its delivery's stream entry id, no longer the job id;
#: 3: a queued job lives in its stream entry alone, see entries.py).
KEYSPACE_VERSION = 3
GROUP = "rqueues"
#: Final states with a finished index each (QueueKeys.finished). Dead jobs have one
#: already: the dead-letter stream, in the order they died.
FINISHED_STATES = ("succeeded", "failed", "cancelled")

_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")


def check_queue_name(name: str) -> str:
    """Return ``name`` if it is a valid queue name, else raise ConfigurationError."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigurationError(
            f"invalid queue name {name!r}: use 1-128 characters from A-Z a-z 0-9 _ . : -"
        )
    return name


@dataclass(frozen=True)
class QueueKeys:
    """Key names of one queue; all share the queue's hash tag."""

    prefix: str
    name: str

    @property
    def base(self) -> str:
        return f"{self.prefix}:{{q:{self.name}}}"

    @property
    def stream(self) -> str:
        return f"{self.base}:stream"

    def stream_of(self, entry: str) -> str:
        """The stream that holds ``entry``: this one, or a priority level's (levels.py)."""
        return level_stream(self.stream, level_of(entry))

    def level_stream(self, level: int) -> str:
        return level_stream(self.stream, level)

    @property
    def levels(self) -> str:
        """hash: priority level in use -> the last entry id added at it (levels.lua)."""
        return f"{self.base}:levels"

    @property
    def config(self) -> str:
        return f"{self.base}:config"

    @property
    def leases(self) -> str:
        return f"{self.base}:leases"

    @property
    def events(self) -> str:
        """Wake-up stream: lease releases on capped queues, watched completions, config."""
        return f"{self.base}:events"

    @property
    def scheduled(self) -> str:
        return f"{self.base}:scheduled"

    @property
    def dead(self) -> str:
        return f"{self.base}:dead"

    @property
    def stats(self) -> str:
        """Hash of cumulative counters (finished jobs by outcome, wait-time buckets); see stats.py."""
        return f"{self.base}:stats"

    def finished(self, state: str) -> str:
        """Zset of the jobs that ended in ``state``, scored by finished_at (ms): what
        ``rqueues jobs --state`` pages through, newest first, without a SCAN."""
        if state not in FINISHED_STATES:
            raise ValueError(f"no finished index for state {state!r}")
        return f"{self.base}:finished:{state}"

    @property
    def ids(self) -> str:
        """Hash of the queued jobs enqueued with an id of their own: job id -> stream entry id."""
        return f"{self.base}:ids"

    @property
    def tombstones(self) -> str:
        """Set of the jobs cancelled while queued whose entry no claim has consumed yet: a
        claim looks up the record of a fresh entry only while this set is not empty."""
        return f"{self.base}:tombstones"

    @property
    def unique(self) -> str:
        """Hash of the unique keys held: unique key -> the one job (queued, scheduled, deferred
        or running) that holds it; released when that job reaches a final state."""
        return f"{self.base}:unique"

    @property
    def deferred(self) -> str:
        """Zset of the jobs waiting for their parents (``depends_on``), scored by enqueued_at
        (ms): not in the stream, so the group's lag counts only runnable jobs."""
        return f"{self.base}:deferred"

    @property
    def notify(self) -> str:
        """Zset of the finished jobs whose dependents are not yet told, scored by when they
        finished (ms): the notifier removes a job once every dependent heard its outcome."""
        return f"{self.base}:notify"

    @property
    def starts(self) -> str:
        """Zset of the recent starts of a rate-limited queue (member = entry id, score = ms):
        claim.lua's sliding window, trimmed to the window, so at most the limit long."""
        return f"{self.base}:starts"

    @property
    def cron(self) -> str:
        """Hash of the queue's periodic schedules: name -> msgpack schedule (see cron.py)."""
        return f"{self.base}:cron"

    @property
    def cron_ticks(self) -> str:
        """Hash: schedule name -> the last tick enqueued (ms), which cron_tick.lua advances."""
        return f"{self.base}:cron_ticks"

    @property
    def flagged(self) -> str:
        """Set of the jobs whose record carries a flag complete.lua must read (``watched``,
        ``stop``, ``dependents``): a completion reads no record while this set is empty."""
        return f"{self.base}:flagged"

    @property
    def job_prefix(self) -> str:
        return f"{self.base}:job:"

    def job(self, job_id: str) -> str:
        return f"{self.base}:job:{job_id}"


@functools.lru_cache(maxsize=4096)
def _queue_keys(prefix: str, name: str) -> QueueKeys:
    """Made once per queue: every job handle and every call names its queue's keys (an
    invalid name raises, and is not kept)."""
    return QueueKeys(prefix, check_queue_name(name))


@dataclass(frozen=True)
class Keyspace:
    """Key names for one prefix."""

    prefix: str = "rqueues"

    def queue(self, name: str) -> QueueKeys:
        return _queue_keys(self.prefix, name)

    @property
    def cron_queues(self) -> str:
        """Set of the queues that have periodic schedules (each in its queue's cron hash)."""
        return f"{self.prefix}:cron-queues"

    @property
    def queues(self) -> str:
        """Set of declared queue names."""
        return f"{self.prefix}:queues"

    @property
    def workers(self) -> str:
        """Zset of worker ids scored by their last heartbeat (ms)."""
        return f"{self.prefix}:workers"

    def worker(self, worker_id: str) -> str:
        """Hash describing one worker; expires when heartbeats stop."""
        return f"{self.prefix}:worker:{worker_id}"

    @property
    def reaper(self) -> str:
        """Hash the reaper writes each pass: last_run (ms), holder, reclaimed, dead_lettered."""
        return f"{self.prefix}:reaper"

    @property
    def reaper_lock(self) -> str:
        """Held by the one reaper acting at a time; left to expire, it paces passes."""
        return f"{self.prefix}:reaper:lock"

    @property
    def write_probe(self) -> str:
        """Never created: LPUSHX on it writes nothing, yet Redis refuses it while out of memory."""
        return f"{self.prefix}:write-probe"
