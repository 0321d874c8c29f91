"""Dispatch: promote due jobs, claim and start jobs with their leases, block when idle.

Only the dispatcher takes new jobs. A claim takes as many jobs as there are
free slots from each consumed queue in turn (one script call per queue, its
leases taken and its jobs marked running in the same call, which returns what
running them needs); when nothing was taken it blocks in Redis on
the streams and wake-up streams the claims named, never in a sleep loop
(invariants 1 and 4 of docs/internals.md).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..backend import scripts
from ..backend.calls import Call
from ..backend.entries import NO_JOB_ID, undecodable_reason
from ..backend.keys import QueueKeys
from ..backend.replies import ClaimKind, ClaimReply, Delivery
from ..backend.store import Store
from ..config import QueueConfig
from ..defaults import RESULT_TTL
from ..errors import ConfigurationError
from ..liveness import Clock
from ..options import decode_options, stored_result_ttl
from .acker import Acker
from .execution import Claimed, Outcome
from .executors.base import Executor
from .gpus import WAIT, GpuGate
from .held import Held
from .observer import Observer
from .slots import Slots

log = logging.getLogger("rqueues.worker")

MISSING_RECORD = "job record missing (expired or deleted before it ran)"
#: Jobs claimed ahead, per slot, at most, while every queue consumed has no cap and its
#: jobs are short (slots.SHORT_JOB_SECONDS).
AHEAD_PER_SLOT = 16
#: How long the acker waits for more outcomes while jobs are claimed ahead (s).
ACK_LINGER = 0.002
#: Scheduled jobs moved per queue per step.
PROMOTE_BATCH = 100


@dataclass
class ClaimRound:
    """What one round of claims did: jobs taken, what to block on if none, all queues empty."""

    claimed: int = 0
    waits: dict[str, str] = field(default_factory=dict)
    waiting: list[str] = field(default_factory=list)  # the queues whose claims came back empty-handed
    idle: bool = True
    stale: bool = False  # a queue's config changed since the last refresh: refresh, then claim


class Dispatcher:
    def __init__(
        self,
        conn: Store,
        worker_id: str,
        lease_ms: int,
        slots: Slots,
        held: Held,
        acker: Acker,
        executor: Executor,
        observer: Observer,
        clock: Clock = time.monotonic,
        gpus: GpuGate | None = None,
    ) -> None:
        self.conn = conn
        self.worker_id = worker_id
        self.lease_ms = lease_ms
        self.slots = slots
        self.held = held
        self.acker = acker
        self.executor = executor
        self.observer = observer
        self.clock = clock
        self.gpus = gpus or GpuGate()
        self.queues: tuple[str, ...] = ()
        self.configs: Mapping[str, QueueConfig] = {}
        self.due: dict[str, float] = {}  # queue -> clock() time its earliest scheduled job is due
        self.permits: dict[str, float] = {}  # rate-bound queue -> clock() time of its next permit
        self._rotate = 0
        self._clock_offset_ms = 0.0  # Redis time minus local time, from claim replies
        # While block() claims on a slot thread: the jobs it started, for its own thread to observe.
        self._deferred: list[tuple[str, list[Claimed]]] | None = None
        slots.submit = executor.submit  # a slot that ends a job starts the next one claimed ahead

    def promote_due(self) -> int:
        """Move scheduled jobs (retries, delayed jobs) that are due onto their streams."""
        now = self.clock()
        moved = 0
        for name in [q for q, due in self.due.items() if due <= now]:
            del self.due[name]
            keys = self.conn.keys.queue(name)
            upto = time.time() * 1000 + self._clock_offset_ms
            found = self.conn.redis.zrangebyscore(keys.scheduled, "-inf", upto, 0, PROMOTE_BATCH)
            if found:
                moved += self.conn.scripts.promote(keys, [j.decode() for j in found])
        return moved

    def claim_once(self) -> ClaimRound:
        """Claim jobs for the free slots from each queue in turn, rotating the first."""
        ahead = self._ahead_limit()
        self.slots.ahead_limit = ahead
        self.acker.linger = ACK_LINGER if ahead else 0.0
        free = self.slots.claimable
        result = ClaimRound()
        progressed = False
        self.permits.clear()  # each claim below says again when its permit is due
        names = self.queues[self._rotate :] + self.queues[: self._rotate]
        self._rotate = (self._rotate + 1) % max(1, len(self.queues))
        for name in names:
            if free - result.claimed <= 0:
                break
            config = self.configs.get(name)
            want = free - result.claimed
            if config is not None and config.gpus_per_job > 0:
                want = self._gpu_want(name, config, want, result)
                if want <= 0:
                    continue
            reply = self.conn.scripts.run(self._claim(name, want))
            progressed = self._take(name, reply, result) or progressed
        result.idle = result.idle and not result.claimed
        result.claimed = result.claimed or int(progressed)
        return result

    def _claim(self, name: str, want: int) -> Call[ClaimReply]:
        config = self.configs.get(name)
        version = config.version if config is not None else None
        return scripts.claim(self.conn.keys.queue(name), self.worker_id, want, self.lease_ms, version)

    def _take(self, name: str, reply: ClaimReply, result: ClaimRound, run: bool = True) -> bool:
        """Act on one queue's claim reply, adding to ``result``; whether entries were taken
        that became dead letters only. ``run`` False: the worker stops, and the jobs taken
        are held for the hand-back instead of started."""
        keys = self.conn.keys.queue(name)
        self._clock_offset_ms = reply.now_ms - time.time() * 1000
        if reply.kind is ClaimKind.STALE:
            # Routed by an older config (its tags may now exclude this worker): nothing
            # was taken; the caller refreshes and re-routes before claiming again.
            result.stale = True
            result.idle = False
            return False
        if reply.due_ms is not None:
            self.due[name] = self.clock() + max(0, reply.due_ms - reply.now_ms) / 1000
        else:
            self.due.pop(name, None)
        result.waiting.append(name)
        if reply.kind is ClaimKind.CLAIMED:
            result.waiting.pop()
            if not reply.deliveries:  # every entry taken was malformed (now dead letters)
                return True
            result.claimed += self._start(name, reply.deliveries, run)
        elif reply.kind is ClaimKind.EMPTY:
            result.waits[keys.stream] = reply.stream_id
            result.waits[keys.events] = reply.events_id
        elif reply.kind is ClaimKind.CAPPED:
            self.observer.denied(name)
            result.waits[keys.events] = reply.events_id
            result.idle = False
        elif reply.kind is ClaimKind.RATED and reply.permit_ms is not None:
            # Block on the events stream (a declare that raises the limit) until the permit.
            wait = max(0, reply.permit_ms - reply.now_ms) / 1000
            self.permits[name] = self.clock() + wait
            result.waits[keys.events] = reply.events_id
            result.idle = False
        elif reply.kind is ClaimKind.PAUSED:
            result.waits[keys.events] = reply.events_id  # resume() adds to it
        else:  # GONE: the queue was removed; the next refresh drops it
            result.waiting.pop()
        return False

    def _gpu_want(self, name: str, config: QueueConfig, want: int, result: ClaimRound) -> int:
        """How many jobs of a GPU queue to claim: no more than its free devices can take.

        While too few are free, wait on the queue's wake-up stream from now on (the id is
        taken before the check): the job that frees them adds an entry there (gpus.py).
        """
        since = f"{int(time.time() * 1000 + self._clock_offset_ms)}-0"
        want = self.gpus.cap(name, config, want)
        if want == WAIT:
            result.waits[self.conn.keys.queue(name).events] = since
            result.idle = False
        return want

    def _ahead_limit(self) -> int:
        """How many jobs may wait ahead of the slots: none while a consumed queue has a cap
        (a capped queue never gives more leases than there are free slots, and jobs ahead
        would keep its claims waiting), a rate limit (a permit is a start, not a wait), GPU
        needs (devices go to running jobs) or an executor other than threads, nor before the
        jobs run so far proved short."""
        if not self.queues or not self.slots.short:
            return 0
        for name in self.queues:
            config = self.configs.get(name)
            if (
                config is None
                or config.concurrency > 0
                or config.rate_limit
                or config.gpus_per_job
                or config.executor != "thread"  # a child or the loop takes a job when it can run it
            ):
                return 0
        return AHEAD_PER_SLOT * self.slots.total

    def _start(self, queue: str, taken: Sequence[Delivery], run: bool = True) -> int:
        """Hand the jobs the claim started to slots; returns how many entries were taken.

        A delivery the claim could not start (its record is missing) is dead-lettered:
        at once when its job id is not UTF-8, else through the acker with the reason.
        ``run`` False: the jobs are only held, for the stopping worker to hand back.
        """
        keys = self.conn.keys.queue(queue)
        bad = [d for d in taken if not d.valid]
        if bad:
            self._dead_letter_undecodable(keys, bad)
        config = self.configs.get(queue)
        default_ttl = config.result_ttl if config else RESULT_TTL
        runnable, missing = [], []
        for delivery in taken:
            if not delivery.valid:
                continue
            job = _claimed(queue, delivery, default_ttl)
            if delivery.started:
                runnable.append(job)
            else:
                job.done = True
                missing.append(Outcome(job, "dead", reason=MISSING_RECORD))
        self.held.add(runnable)
        self.held.add(o.claimed for o in missing)
        for outcome in missing:  # first: they were claimed before any of these jobs can finish
            self.acker.put(outcome)
        if not run:
            return len(taken)
        for job in runnable:
            self.gpus.assign(job, config)  # the devices _gpu_want counted for it
        for job in self.slots.place(runnable):  # the rest wait ahead for a slot (never GPU jobs)
            self.executor.submit(job)
        # After the hand-off, so that no job waits for its start line; the end line is
        # written once the outcome is stored, a round trip later.
        if self._deferred is not None:
            self._deferred.append((queue, runnable))  # block() observes them on its own thread
        else:
            self.observer.claimed(queue, runnable)
        return len(taken)

    def _dead_letter_undecodable(self, keys: QueueKeys, bad: Sequence[Delivery]) -> None:
        """Entries whose job field is not UTF-8 cannot name a record: dead letters, at once
        (their leases, named by entry, go with them)."""
        rows = [(d.entry, NO_JOB_ID, undecodable_reason(d.raw_job or b"")) for d in bad]
        self.conn.scripts.run(scripts.deadletter(keys, rows))
        log.warning(
            "queue %s: dead-lettered %d entries whose job id is not UTF-8: %s",
            keys.name, len(bad), ", ".join(d.entry for d in bad),
        )  # fmt: skip

    def block(self, last: ClaimRound, timeout: float, stopping: Callable[[], bool]) -> ClaimRound:
        """Wait in Redis for a new entry or a released lease (never a sleep loop), then claim
        again from the queues whose claims in ``last`` came back empty-handed.

        The claims go in one pipeline behind the blocking XREAD: Redis runs a client's next
        commands as soon as its blocking one returns, so the job that wakes an idle worker
        is claimed without another round trip. They share the free slots, so they never
        take more than those. Queues with GPU needs (their claims count devices first) and
        Redis Cluster (the streams may span slots: store.wait_streams) are claimed after
        the wake by the next claim_once. Claims that come back while ``stopping()`` only
        hold their jobs, for the hand-back.

        The read and the claims run on an idle slot thread when a slot is free and the
        thread executor runs (ThreadExecutor.lend), which then runs the first thread job they
        start itself: the job that woke the worker starts without waiting for another thread
        to wake. This thread waits meanwhile, then observes the jobs (start lines, metrics).
        """
        free = self.slots.claimable
        names = [n for n in last.waiting if not self._gpu_queue(n)][: max(0, free)]
        if self.conn.cluster or not names:
            self.conn.wait_streams(last.waits, timeout)
            return ClaimRound()
        wants = {n: free // len(names) + (i < free % len(names)) for i, n in enumerate(names)}
        box: dict[str, Any] = {}
        done = threading.Event()

        def wake() -> None:
            try:
                box["round"] = self._claim_on_wake(last, wants, timeout, stopping)
            except BaseException as exc:  # raised below, on the dispatcher's thread
                box["error"] = exc
            finally:
                done.set()

        self._deferred = []
        lend = getattr(self.executor, "lend", None)  # the thread executor's: slots.py, thread.py
        # Only to a slot thread that is idle (a free slot: busy ones may run long jobs while
        # room ahead lets the claims take more); else the wake would wait for a job to end.
        if self.slots.free > 0 and lend is not None and lend(wake):
            done.wait()
        else:
            wake()
        deferred, self._deferred = self._deferred, None
        for queue, jobs in deferred:
            self.observer.claimed(queue, jobs)
        if "error" in box:
            raise box["error"]
        result: ClaimRound = box["round"]
        return result

    def _claim_on_wake(
        self, last: ClaimRound, wants: Mapping[str, int], timeout: float, stopping: Callable[[], bool]
    ) -> ClaimRound:
        batch = self.conn.scripts.batch()
        block_ms = max(1, int(timeout * 1000))
        batch.command(lambda pipe: pipe.xread(dict(last.waits), count=1, block=block_ms))
        claims = [(name, batch.add(self._claim(name, want))) for name, want in wants.items()]
        batch.execute()
        self.permits.clear()
        result, error, progressed = ClaimRound(), None, False
        run = not stopping()
        for name, pending in claims:  # every claim that went through is acted on first
            if pending.error is not None:
                error = error or pending.error
                continue
            progressed = self._take(name, pending.get(), result, run) or progressed
        if error is not None:
            raise error
        result.idle = result.idle and not result.claimed
        result.claimed = result.claimed or int(progressed)
        return result

    def _gpu_queue(self, name: str) -> bool:
        config = self.configs.get(name)
        return config is not None and config.gpus_per_job > 0


def _claimed(queue: str, delivery: Delivery, default_ttl: int) -> Claimed:
    options = decode_options(delivery.options)
    try:
        result_ttl = stored_result_ttl(options, default_ttl)
    except ConfigurationError as exc:  # not written by enqueue, which refuses it
        log.warning("job %s: using the queue's result TTL instead of its own: %s", delivery.job_id, exc)
        result_ttl = default_ttl
    return Claimed(
        queue, delivery.entry, delivery.job_id, delivery.function, delivery.payload, delivery.attempts,
        options, result_ttl, delivery.enqueued_ms / 1000 if delivery.enqueued_ms else None,
    )  # fmt: skip
