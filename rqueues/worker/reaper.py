"""The reaper: gives the jobs of dead workers back to their queues.

A worker is dead when its heartbeat in the workers registry is older than
``dead_after`` (or it is absent). The age of a job never counts: a live worker
renews its leases and keeps its jobs however long they run. A pending entry of
a live consumer whose lease has expired is an orphan (its outcome was lost, for
example by a Redis restart without the last second of AOF) and is given back too.

One reaper acts at a time: each pass takes a short lock. Workers run it on a
thread; `rqueues reaper` runs it standalone. It keeps invariants 2 and 3 of
docs/internals.md.

A pass that cannot write is not a pass: while Redis refuses writes for lack of
memory the reaper gives nothing back (reap_once raises RedisOutOfMemory first).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import redis

from ..backend import dependencies, scripts
from ..backend.clients import redact
from ..backend.entries import NO_JOB_ID, Entry, read_entry, undecodable_reason
from ..backend.keys import GROUP, QueueKeys
from ..backend.levels import ordered
from ..backend.replies import GiveBack
from ..backend.store import Store
from ..codec import encode_error
from ..config import ConfigProblems, QueueConfig
from ..errors import RedisOutOfMemory, RedisUnavailable
from ..liveness import (
    DEAD_AFTER,
    MIN_DEAD_AFTER,
    ORPHAN_IDLE_MS,
    Health,
    dead_cutoff,
    death_reason,
    is_orphan,
    live_workers,
)

log = logging.getLogger("rqueues.reaper")
BATCH = 100  # pending entries examined per consumer per pass
__all__ = ["MIN_DEAD_AFTER", "Health", "ReapReport", "Reaper", "run_reaper", "writes_settled"]


@dataclass
class ReapReport:
    """What one pass did (or, in a dry run, would do)."""

    requeued: int = 0
    dead_lettered: int = 0
    dead_workers: list[str] = field(default_factory=list)
    orphans: int = 0
    actions: list[dict[str, Any]] = field(default_factory=list)


class Reaper:
    def __init__(
        self, conn: Store, *, dead_after: float = DEAD_AFTER, holder: str = "reaper", dry_run: bool = False
    ) -> None:
        self.conn = conn
        self.dead_after_ms = int(dead_after * 1000)
        self.holder = holder
        self.dry_run = dry_run
        self.config_problems = ConfigProblems()

    def try_lock(self, hold_ms: int) -> bool:
        """Take the reaper lock for ``hold_ms``; it is left to expire, pacing passes cluster-wide."""
        return bool(self.conn.redis.set(self.conn.keys.reaper_lock, self.holder, nx=True, px=hold_ms))

    def reap_once(self, now_ms: int | None = None) -> ReapReport:
        """One pass over every declared queue, judged at ``now_ms`` (default: Redis' clock)."""
        r = self.conn.redis
        if not self.dry_run and not self.conn.accepts_writes():
            raise RedisOutOfMemory(redact(self.conn.url))
        if now_ms is None:
            secs, micros = r.time()
            now_ms = secs * 1000 + micros // 1000
        beats = {w.decode(): int(s) for w, s in r.zrange(self.conn.keys.workers, 0, -1, withscores=True)}
        live = live_workers(beats, now_ms, self.dead_after_ms / 1000)
        report = ReapReport()
        names = self.conn.declared_queues()
        pipe = r.pipeline(transaction=False)  # every queue's settings and consumers in one round trip
        for name in names:
            keys = self.conn.keys.queue(name)
            pipe.hgetall(keys.config)
            pipe.xinfo_consumers(keys.stream, GROUP)
            pipe.hkeys(keys.levels)
        replies = pipe.execute(raise_on_error=False)
        # The consumers of each priority level's stream in use (levels.py), one more round trip.
        streams: list[tuple[int, str]] = []
        for i, name in enumerate(names):
            levels = replies[3 * i + 2]
            if isinstance(levels, list):
                keys = self.conn.keys.queue(name)
                streams += [(i, keys.level_stream(lv)) for lv in ordered(levels) if lv]
        if streams:
            for _, stream in streams:
                pipe.xinfo_consumers(stream, GROUP)
            more = pipe.execute(raise_on_error=False)
        else:
            more = []
        for i, name in enumerate(names):
            raw, consumers = replies[3 * i], replies[3 * i + 1]
            keys = self.conn.keys.queue(name)
            per_stream = [(keys.stream, consumers)]
            per_stream += [(st, c) for (q, st), c in zip(streams, more, strict=True) if q == i]
            # A missing stream or group (a ResponseError here) means nothing is pending.
            if isinstance(raw, dict) and raw and isinstance(consumers, list):
                # A malformed config skips its queue (logged once per version), not the pass.
                config = self.config_problems.parse({name: raw}, "the reaper skips it").get(name)
                if config is not None:
                    for stream, found in per_stream:
                        if isinstance(found, list):
                            self._reap_queue(config, stream, found, live, beats, now_ms, report)
        if not self.dry_run:
            # A worker that beat during the pass is alive: the script removes only entries
            # whose heartbeat is still as old as this pass judged it.
            stale = [w for w in beats if w not in live]
            cutoff = dead_cutoff(now_ms, self.dead_after_ms / 1000)
            batch = self.conn.scripts.batch()
            if stale:
                batch.add(scripts.forget_workers(self.conn.keys.workers, cutoff, stale))
            stats = self.conn.keys.reaper
            batch.command(lambda p: p.hset(stats, mapping={"last_run": now_ms, "holder": self.holder}))
            batch.command(lambda p: p.hincrby(stats, "reclaimed", report.requeued))
            batch.command(lambda p: p.hincrby(stats, "dead_lettered", report.dead_lettered))
            batch.execute(raise_first=True)
            self._sweep_dependents(names, now_ms)
        return report

    def _sweep_dependents(self, names: list[str], now_ms: int) -> None:
        """Tell the dependents no one told of their parents' outcomes (dependencies.py)."""
        try:
            dependencies.sweep(self.conn, names, now_ms)
        except redis.RedisError as exc:
            log.warning("could not tell the dependents of finished jobs: %s", exc)

    def _reap_queue(
        self,
        config: QueueConfig,
        stream: str,
        consumers: list[dict[str, Any]],
        live: set[str],
        beats: dict[str, int],
        now_ms: int,
        report: ReapReport,
    ) -> None:
        keys = self.conn.keys.queue(config.name)
        r = self.conn.redis
        for consumer in consumers:
            name = consumer["name"].decode()
            if name in live:
                if consumer["pending"]:
                    self._reclaim_orphans(config, keys, stream, name, now_ms, report)
                continue
            if consumer["pending"]:
                reason = death_reason(name, beats.get(name), now_ms)
                entries = r.xpending_range(stream, GROUP, "-", "+", BATCH, consumername=name)
                ids = [e["message_id"].decode() for e in entries]
                self._give_back(config, keys, ids, self._job_ids(keys, ids), reason, report)
                if name not in report.dead_workers:
                    report.dead_workers.append(name)
            if not self.dry_run:
                # Atomic: a claim landing between a check and a delete would lose its delivery.
                self.conn.scripts.drop_consumer(keys, name)

    def _reclaim_orphans(
        self,
        config: QueueConfig,
        keys: QueueKeys,
        stream: str,
        consumer: str,
        now_ms: int,
        report: ReapReport,
    ) -> None:
        """Entries a live consumer has held past a lease period without a live lease."""
        r = self.conn.redis
        entries = r.xpending_range(stream, GROUP, "-", "+", BATCH, consumername=consumer, idle=ORPHAN_IDLE_MS)
        if not entries:
            return
        ids = [e["message_id"].decode() for e in entries]
        jobs = self._job_ids(keys, ids)
        pipe = r.pipeline(transaction=False)
        for entry in jobs:
            pipe.zscore(keys.leases, entry)  # a lease is its delivery's: member = entry id
        scores = dict(zip(jobs, pipe.execute(), strict=True))
        orphans = [i for i in ids if i not in jobs or is_orphan(scores.get(i), now_ms)]
        if orphans:
            report.orphans += len(orphans)
            found = {e: jobs[e] for e in orphans if e in jobs}
            self._give_back(config, keys, orphans, found, f"lease of worker {consumer} expired", report)

    def _entries(self, keys: QueueKeys, entry_ids: list[str]) -> dict[str, Entry]:
        """The entries of ``entry_ids`` still in the stream and written by rqueues."""
        pipe = self.conn.redis.pipeline(transaction=False)
        for entry in entry_ids:
            pipe.xrange(keys.stream_of(entry), entry, entry)  # its priority level's stream
        out = {}
        for entry, found in zip(entry_ids, pipe.execute(), strict=True):
            read = read_entry(keys.name, entry, found[0][1]) if found else None
            if read is not None:
                out[entry] = read
        return out

    def _job_ids(self, keys: QueueKeys, entry_ids: list[str]) -> dict[str, str]:
        # A job field that is not UTF-8 maps to NO_JOB_ID: _give_back dead-letters it.
        return {e: read.job_id for e, read in self._entries(keys, entry_ids).items()}

    def _give_back(
        self,
        config: QueueConfig,
        keys: QueueKeys,
        entry_ids: list[str],
        jobs: dict[str, str],
        reason: str,
        report: ReapReport,
    ) -> None:
        """Give back ``entry_ids``; ``jobs`` maps those still in the stream to their job id."""
        lost = [e for e in entry_ids if e not in jobs]
        if lost and not self.dry_run:
            # Pending but deleted (or not an rqueues entry): nothing left to run.
            log.warning(
                "queue %s: acknowledging %d pending entries with no job: %s",
                config.name,
                len(lost),
                ", ".join(lost),
            )
            for entry in lost:
                self.conn.redis.xack(keys.stream_of(entry), GROUP, entry)
        undecodable = [e for e, j in jobs.items() if j == NO_JOB_ID]
        if undecodable and not self.dry_run:
            self._dead_letter(keys, undecodable, report)
        pairs = [(e, j) for e, j in jobs.items() if j != NO_JOB_ID]
        if not pairs:
            return
        if self.dry_run:
            report.actions += [
                {"queue": config.name, "job": j, "entry": e, "reason": reason} for e, j in pairs
            ]
            report.requeued += len(pairs)
            return
        error = encode_error("WorkerLost", reason, "")
        results = self.conn.scripts.giveback(
            keys, pairs, reclaim=True, max_reclaims=config.max_reclaims, reason=reason, error=error
        )
        for (entry, job), result in zip(pairs, results, strict=True):
            report.actions.append(
                {"queue": config.name, "job": job, "entry": entry, "reason": reason, "outcome": result.value}
            )
            if result is GiveBack.QUEUED:
                report.requeued += 1
            elif result is GiveBack.DEAD:
                report.dead_lettered += 1
        log.warning("queue %s: %s; gave back %d job(s)", config.name, reason, len(pairs))

    def _dead_letter(self, keys: QueueKeys, entry_ids: list[str], report: ReapReport) -> None:
        """Entries whose job field is not UTF-8 name no record: dead letters, with the reason."""
        found = self._entries(keys, entry_ids)
        raws = [(found[e].raw_job or b"") if e in found else b"" for e in entry_ids]
        rows = [(e, NO_JOB_ID, undecodable_reason(raw)) for e, raw in zip(entry_ids, raws, strict=True)]
        report.dead_lettered += self.conn.scripts.deadletter(keys, rows)
        log.warning("queue %s: dead-lettered %d entries whose job id is not UTF-8", keys.name, len(rows))


def writes_settled(conn: Store, health: Health) -> Callable[[], bool]:
    """A ``healthy()`` for a reaper without a heartbeat of its own (`rqueues reaper`).

    Settled once Redis has accepted writes for ``health.settle`` seconds. PING is not
    enough: Redis answers it while it refuses writes, and the heartbeats it refused
    then must not pass for dead workers once memory frees.
    """

    def healthy() -> bool:
        try:
            if conn.accepts_writes():
                health.ok()
            else:
                health.failed()
        except redis.RedisError:
            health.failed()
        return health.settled()

    return healthy


def run_reaper(
    reaper: Reaper, stop: threading.Event, interval: float, healthy: Callable[[], bool] = lambda: True
) -> None:
    """Reap every ``interval`` seconds while ``healthy()``, one reaper at a time cluster-wide."""
    refused = False  # logged once per spell of Redis refusing writes
    while not stop.wait(interval):
        if not healthy():
            continue  # just reconnected: live workers may not have beaten yet
        try:
            if reaper.try_lock(int(interval * 1000)):
                reaper.reap_once()
            refused = False
        except (RedisOutOfMemory, redis.exceptions.OutOfMemoryError) as exc:  # the lock is a write
            if not refused:
                log.warning("reaper: not reaping while Redis refuses writes: %s", exc)
            refused = True
        except (redis.RedisError, RedisUnavailable) as exc:  # declared_queues() raises the latter
            log.warning("reaper pass failed: %s", exc)
        except Exception:  # a bug must not end reaping for the worker's whole life
            log.exception("reaper pass failed")
