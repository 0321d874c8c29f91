"""The worker: claims jobs with their leases, runs them on slots, completes them.

Threads: the dispatcher (the caller of run()) claims and blocks in Redis when
idle; slot threads run jobs; the acker stores outcomes in batches; the
heartbeat renews leases; the reaper gives back the jobs of dead workers. Only
the dispatcher takes new jobs.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Iterable
from typing import Any

import redis

from .acker import Acker
from .codec import encode_error
from .config import QueueConfig
from .connection import Connection, as_connection
from .errors import ConfigurationError, RedisUnavailable
from .execution import Claimed, Outcome, run_job
from .executor import ThreadExecutor
from .functions import FunctionRegistry
from .heartbeat import Heartbeat
from .held import Held
from .keys import GROUP, check_queue_name
from .observer import Observer
from .options import decode_options
from .reaper import Health, Reaper, run_reaper
from .redis_settings import setting_warnings
from .retry import RetryPolicy
from .routing import automatic_tags, matches

log = logging.getLogger("rqueues.worker")

CLAIMED, EMPTY, CAPPED, GONE = 0, 1, 2, 3
MISSING_RECORD = "job record missing (expired or deleted before it ran)"
STOPPED = encode_error("Stopped", "stopped on request (rqueues stop)", "")


def default_worker_id() -> str:
    return f"{socket.gethostname()}.{os.getpid()}.{os.urandom(2).hex()}"


class Worker:
    """Consumes declared queues whose tag patterns match this worker's tags."""

    def __init__(
        self,
        connection: Any = None,
        *,
        queues: Iterable[str] | None = None,
        tags: Iterable[str] = (),
        concurrency: int = 8,
        imports: Iterable[str] = (),
        burst: bool = False,
        worker_id: str | None = None,
        lease_seconds: float = 30.0,
        heartbeat_seconds: float = 1.0,
        refresh_seconds: float = 1.0,
        shutdown_timeout: float = 30.0,
        reaper: bool = True,
        dead_after: float = 5.0,
        observer: Observer | None = None,
    ) -> None:
        if not isinstance(concurrency, int) or concurrency < 1:
            raise ConfigurationError(f"concurrency must be an integer >= 1, got {concurrency!r}")
        if lease_seconds <= 3 * heartbeat_seconds:
            raise ConfigurationError("lease_seconds must exceed three heartbeat intervals")
        if dead_after < 2 * heartbeat_seconds:
            raise ConfigurationError("dead_after must be at least two heartbeat intervals")
        self.conn: Connection = as_connection(connection)
        self.worker_id = worker_id or default_worker_id()
        self.own_tags = set(tags)
        self.tags = self.own_tags | automatic_tags(self.worker_id)
        self.explicit = [check_queue_name(q) for q in queues] if queues else None
        self.concurrency = concurrency
        self.functions = FunctionRegistry(imports)
        self.burst = burst
        self.lease_ms = int(lease_seconds * 1000)
        self.refresh_seconds = refresh_seconds
        self.shutdown_timeout = shutdown_timeout
        self.queues: list[str] = []
        self.configs: dict[str, QueueConfig] = {}
        self.observer = observer or Observer()
        self.held = Held()
        self.health = Health(settle=dead_after)
        self.acker = Acker(self.conn, self.held, self.observer)
        self.executor = ThreadExecutor(concurrency, self._run, self._done)
        self.heartbeat = Heartbeat(
            self.conn, self.worker_id, self.describe, self.held, self.lease_ms, heartbeat_seconds,
            self.observer, self.health,
        )  # fmt: skip
        self.reaper = Reaper(self.conn, dead_after=dead_after, holder=self.worker_id) if reaper else None
        self.started_at = time.time()
        self._running = 0
        self._cond = threading.Condition()
        self._stopping = threading.Event()
        self._hard = threading.Event()
        self._reaper_stop = threading.Event()
        self._consumed: set[str] = set()
        self._rotate = 0
        self._warned: set[str] = set()
        self._due: dict[str, float] = {}  # queue -> monotonic time its earliest scheduled job is due
        self._clock_offset_ms = 0.0  # Redis time minus local time, from claim replies

    # -- lifecycle ----------------------------------------------------------

    def run(self, install_signals: bool = True) -> None:
        """Work until stop() or a signal (or, in burst mode, until nothing is left)."""
        if install_signals and threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, self._on_signal)
            signal.signal(signal.SIGQUIT, self._on_quit)
        with self.conn.guard():
            for warning in setting_warnings(self.conn.redis):
                log.warning(warning)
            self.refresh()
            self.heartbeat.start()
        self.acker.start()
        self.executor.start()
        if self.reaper is not None:
            threading.Thread(
                target=run_reaper,
                args=(self.reaper, self._reaper_stop, 1.0, self.health.settled),
                name="rqueues-reaper",
                daemon=True,
            ).start()
        log.info(
            "worker %s started: concurrency %d, tags %s, queues %s",
            self.worker_id, self.concurrency, sorted(self.own_tags) or "none", self.queues or "none yet",
        )  # fmt: skip
        try:
            self._loop()
        finally:
            self._shutdown()

    def stop(self, hard: bool = False) -> None:
        """Stop taking jobs. Running jobs may finish for up to shutdown_timeout (none if
        ``hard``); the rest are handed back to their queues at once."""
        self._stopping.set()
        if hard:
            self._hard.set()
        with self._cond:
            self._cond.notify_all()
        # Off this thread: stop() runs in signal handlers, which must not touch the pool's lock.
        threading.Thread(target=self._wake_dispatcher, name="rqueues-wake", daemon=True).start()

    def _wake_dispatcher(self) -> None:
        """End the dispatcher's blocking read now instead of at its timeout.

        Other workers idle on these queues wake once too, find nothing and block again.
        """
        try:
            pipe = self.conn.redis.pipeline(transaction=False)
            for name in self.queues:
                pipe.xadd(
                    self.conn.keys.queue(name).events, {"wake": self.worker_id}, maxlen=1000, approximate=True
                )
            pipe.execute()
        except redis.RedisError:
            pass  # the read ends at its timeout anyway

    def _on_signal(self, signum: int, frame: Any) -> None:
        name = signal.Signals(signum).name
        if self._stopping.is_set():
            log.warning("%s again: stopping now, handing back %d running job(s)", name, self._running)
            self.stop(hard=True)
            return
        log.info(
            "%s: stopping, letting %d running job(s) finish for up to %gs",
            name, self._running, self.shutdown_timeout,
        )  # fmt: skip
        self.stop()

    def _on_quit(self, signum: int, frame: Any) -> None:
        log.warning("SIGQUIT: stopping now, handing back %d running job(s)", self._running)
        self.stop(hard=True)

    def _shutdown(self) -> None:
        deadline = time.monotonic() + self.shutdown_timeout
        with self._cond:
            while self._running and not self._hard.is_set() and time.monotonic() < deadline:
                self._cond.wait(min(0.2, max(0.0, deadline - time.monotonic())))
        self._reaper_stop.set()
        leftover = [job for jobs in self.held.snapshot().values() for job in jobs if not job.done]
        if leftover:
            self._hand_back(leftover)
        self.executor.stop(timeout=None if not leftover else 0)
        self.acker.stop(timeout=10.0)
        self.heartbeat.stop()
        try:
            self._deregister()
        except redis.RedisError as exc:
            log.warning("could not deregister worker %s: %s", self.worker_id, exc)
        log.info("worker %s stopped", self.worker_id)

    def _hand_back(self, jobs: list[Claimed]) -> None:
        """Give running jobs back to their queues now, releasing their leases."""
        for job in jobs:
            job.cancel.set()  # cooperative jobs can end early; the others are abandoned
        by_queue: dict[str, list[Claimed]] = {}
        for job in jobs:
            by_queue.setdefault(job.queue, []).append(job)
        try:
            for name, items in by_queue.items():
                self.conn.scripts.giveback(
                    self.conn.keys.queue(name), [(j.entry, j.job_id) for j in items],
                    reclaim=False, max_reclaims=0, reason="worker stopping", error=b"",
                )  # fmt: skip
            self.held.remove(jobs)
            log.warning("handed back %d unfinished job(s) to their queues", len(jobs))
        except redis.RedisError as exc:
            log.error("could not hand back %d job(s) (%s); the reaper will", len(jobs), exc)

    def _deregister(self) -> None:
        """Leave the registry, and the consumer groups where nothing is pending for us."""
        pipe = self.conn.redis.pipeline(transaction=False)
        names = sorted(self._consumed)
        for name in names:
            pipe.xpending_range(self.conn.keys.queue(name).stream, GROUP, "-", "+", 1, self.worker_id)
        pending = pipe.execute(raise_on_error=False)
        pipe = self.conn.redis.pipeline(transaction=False)
        for name, entries in zip(names, pending):
            if entries == []:  # DELCONSUMER would drop pending entries: keep those for the reaper
                pipe.xgroup_delconsumer(self.conn.keys.queue(name).stream, GROUP, self.worker_id)
        pipe.execute(raise_on_error=False)
        if all(entries == [] for entries in pending):
            self.heartbeat.deregister()

    def describe(self) -> dict[str, Any]:
        """What the workers registry shows about this worker."""
        return {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "tags": sorted(self.own_tags),
            "queues": self.queues,
            "concurrency": self.concurrency,
            "running": self._running,
            "jobs": [j.job_id for jobs in self.held.snapshot().values() for j in jobs if not j.done],
            "started_at": int(self.started_at * 1000),
        }

    # -- queue set ------------------------------------------------------------

    def refresh(self) -> None:
        """Re-read which queues exist and which of them this worker may consume."""
        names = self.explicit or self.conn.declared_queues()
        pipe = self.conn.redis.pipeline(transaction=False)
        for name in names:
            pipe.hgetall(self.conn.keys.queue(name).config)
        configs = {n: QueueConfig.from_hash(n, raw) for n, raw in zip(names, pipe.execute()) if raw}
        chosen = []
        for name in names:
            config = configs.get(name)
            if config is None:
                self._warn_once(name, f"queue {name!r} is not declared; waiting for `rqueues declare {name}`")
            elif not matches(config.tags, self.tags):
                if self.explicit:
                    self._warn_once(name, f"queue {name!r} needs tags {list(config.tags)} this worker lacks")
            else:
                chosen.append(name)
        if chosen != self.queues:
            log.info("consuming queues: %s", ", ".join(chosen) or "none")
        self.queues, self.configs = chosen, configs
        self._consumed.update(chosen)

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning(message)

    # -- dispatch -----------------------------------------------------------

    def _loop(self) -> None:
        next_refresh = time.monotonic() + self.refresh_seconds
        backoff = 0.1
        while not self._stopping.is_set():
            try:
                if time.monotonic() >= next_refresh:
                    self.refresh()
                    next_refresh = time.monotonic() + self.refresh_seconds
                self.promote_due()
                if not self._wait_for_slot():
                    continue
                started, waits, idle = self.claim_once()
                backoff = 0.1
                if started:
                    continue
                if self.burst and idle and not self._due and not self._running and not len(self.held):
                    log.info("burst: nothing left to do")
                    return
                wake = min([next_refresh, *self._due.values()])
                self._block(waits, max(0.001, wake - time.monotonic()))
            except (redis.RedisError, RedisUnavailable) as exc:  # refresh() raises the latter
                # Connection loss, a failover, OOM refusals: the loop must outlive them all.
                self.observer.redis_error("dispatch")
                log.warning("Redis error (%s); retrying in %.1fs", exc, backoff)
                self._stopping.wait(backoff)
                backoff = min(backoff * 2, 5.0)

    def _wait_for_slot(self) -> bool:
        with self._cond:
            if self._running >= self.concurrency:
                self._cond.wait(1.0)
            return self._running < self.concurrency and not self._stopping.is_set()

    def promote_due(self) -> int:
        """Move scheduled jobs (retries, delayed jobs) that are due onto their streams."""
        now = time.monotonic()
        moved = 0
        for name in [q for q, due in self._due.items() if due <= now]:
            del self._due[name]
            keys = self.conn.keys.queue(name)
            upto = time.time() * 1000 + self._clock_offset_ms
            ids = [j.decode() for j in self.conn.redis.zrangebyscore(keys.scheduled, "-inf", upto, 0, 100)]
            if ids:
                moved += int(self.conn.scripts.promote(keys, ids))
        return moved

    def claim_once(self) -> tuple[int, dict[str, str], bool]:
        """Claim jobs for the free slots from each queue in turn.

        Returns how many were claimed, what to block on if none, and whether
        every queue was empty (as opposed to capped).
        """
        free = self.concurrency - self._running
        waits: dict[str, str] = {}
        idle = True
        claimed = 0
        progressed = False
        names = self.queues[self._rotate :] + self.queues[: self._rotate]
        self._rotate = (self._rotate + 1) % max(1, len(self.queues))
        for name in names:
            if free - claimed <= 0:
                break
            keys = self.conn.keys.queue(name)
            kind, now_ms, due_ms, stream_id, events_id, *pairs = self.conn.scripts.claim(
                keys, self.worker_id, free - claimed, self.lease_ms
            )
            self._clock_offset_ms = now_ms - time.time() * 1000
            if due_ms >= 0:
                self._due[name] = time.monotonic() + max(0, due_ms - now_ms) / 1000
            else:
                self._due.pop(name, None)
            if kind == CLAIMED:
                if not pairs:  # every entry taken was malformed (now dead letters): look again
                    progressed = True
                    continue
                entries = [e.decode() for e in pairs[0::2]]
                claimed += self._start(name, entries, [j.decode() for j in pairs[1::2]])
            elif kind == EMPTY:
                waits[keys.stream] = stream_id.decode()
                waits[keys.events] = events_id.decode()
            elif kind == CAPPED:
                self.observer.denied(name)
                waits[keys.events] = events_id.decode()
                idle = False
            # GONE: the queue was removed; the next refresh drops it.
        return claimed or int(progressed), waits, idle and not claimed

    def _start(self, queue: str, entries: list[str], job_ids: list[str]) -> int:
        """Mark claimed jobs running and hand them to slots; returns how many entries were taken."""
        reply = self.conn.scripts.start(self.conn.keys.queue(queue), job_ids, self.worker_id)
        default_ttl = self.configs[queue].result_ttl if queue in self.configs else 86_400
        runnable, others = [], []
        for i, (entry, job_id) in enumerate(zip(entries, job_ids)):
            status, fn, payload, attempts, options_blob, enqueued = reply[i * 6 : i * 6 + 6]
            options = decode_options(options_blob)
            job = Claimed(
                queue, entry, job_id, fn.decode(), payload, int(attempts or 0), options,
                int(options.get("result_ttl") or default_ttl), int(enqueued) / 1000 if enqueued else None,
            )  # fmt: skip
            if status == b"run":
                runnable.append(job)
            elif status == b"missing":
                others.append(Outcome(job, "dead", reason=MISSING_RECORD))
            else:  # a tombstone: cancelled while waiting
                job.done = True
                others.append(Outcome(job, ""))
        self.held.add(runnable)
        self.held.add(o.claimed for o in others)
        with self._cond:
            self._running += len(runnable)
        self.observer.claimed(queue, runnable)
        for outcome in others:  # first: they were claimed before any of these jobs can finish
            self.acker.put(outcome)
        for job in runnable:
            self.executor.submit(job)
        return len(job_ids)

    def _block(self, waits: dict[str, str], timeout: float) -> None:
        """Wait in Redis for a new entry or a released lease; never a sleep loop."""
        if not waits:
            self._stopping.wait(timeout)
            return
        self.conn.wait_streams(waits, timeout)  # on Redis Cluster the streams may span slots

    # -- slots ----------------------------------------------------------------

    def _run(self, job: Claimed) -> Outcome:
        return run_job(job, self.functions)

    def _done(self, outcome: Outcome) -> None:
        job = outcome.claimed
        if job.stop_requested and outcome.state in ("succeeded", "failed"):
            outcome = Outcome(job, "cancelled", STOPPED)
        elif outcome.state == "failed":
            policy = self._policy(job)
            if policy.retries_after(job.attempts, outcome.exception_names):
                outcome.state = "retry"
                outcome.delay_ms = int(policy.delay(job.attempts) * 1000)
        job.done = True
        self.observer.finished(outcome, time.monotonic() - job.started)
        self.acker.put(outcome)
        with self._cond:
            self._running -= 1
            self._cond.notify()

    def _policy(self, job: Claimed) -> RetryPolicy:
        config = self.configs.get(job.queue)
        base = config.retry if config else RetryPolicy()
        return base.with_overrides(job.options)
