"""The worker: claims jobs with their leases, runs them on slots, completes them.

Threads: the dispatcher (the caller of run()) claims and blocks in Redis when
idle; slot threads run jobs; the acker stores outcomes in batches; the
heartbeat renews leases. Only the dispatcher takes new jobs.
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
from .config import QueueConfig
from .connection import Connection, as_connection
from .errors import ConfigurationError
from .execution import Claimed, Outcome, run_job
from .executor import ThreadExecutor
from .functions import FunctionRegistry
from .heartbeat import Heartbeat
from .held import Held
from .keys import GROUP, check_queue_name
from .observer import Observer
from .routing import automatic_tags, matches

log = logging.getLogger("rqueues.worker")

CLAIMED, EMPTY, CAPPED, GONE = 0, 1, 2, 3
MISSING_RECORD = "job record missing (expired or deleted before it ran)"


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
        observer: Observer | None = None,
    ) -> None:
        if not isinstance(concurrency, int) or concurrency < 1:
            raise ConfigurationError(f"concurrency must be an integer >= 1, got {concurrency!r}")
        if lease_seconds <= 3 * heartbeat_seconds:
            raise ConfigurationError("lease_seconds must exceed three heartbeat intervals")
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
        self.queues: list[str] = []
        self.configs: dict[str, QueueConfig] = {}
        self.observer = observer or Observer()
        self.held = Held()
        self.acker = Acker(self.conn, self.held, self.observer)
        self.executor = ThreadExecutor(concurrency, self._run, self._done)
        self.heartbeat = Heartbeat(
            self.conn,
            self.worker_id,
            self.describe,
            self.held,
            self.lease_ms,
            heartbeat_seconds,
            self.observer,
        )
        self.started_at = time.time()
        self._running = 0
        self._cond = threading.Condition()
        self._stopping = threading.Event()
        self._consumed: set[str] = set()
        self._rotate = 0
        self._warned: set[str] = set()

    # -- lifecycle ----------------------------------------------------------

    def run(self, install_signals: bool = True) -> None:
        """Work until stop() or a signal (or, in burst mode, until nothing is left)."""
        if install_signals and threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, self._on_signal)
        with self.conn.guard():
            self.refresh()
            self.heartbeat.start()
        self.acker.start()
        self.executor.start()
        log.info(
            "worker %s started: concurrency %d, tags %s, queues %s",
            self.worker_id,
            self.concurrency,
            sorted(self.own_tags) or "none",
            self.queues or "none yet",
        )
        try:
            self._loop()
        finally:
            self._shutdown()

    def stop(self) -> None:
        """Stop taking jobs; run() returns once running jobs finish and are stored."""
        self._stopping.set()
        with self._cond:
            self._cond.notify_all()

    def _on_signal(self, signum: int, frame: Any) -> None:
        if self._stopping.is_set():
            log.warning("already stopping; waiting for %d running job(s)", self._running)
            return
        log.info("%s: stopping, finishing %d running job(s)", signal.Signals(signum).name, self._running)
        self.stop()

    def _shutdown(self) -> None:
        with self._cond:
            while self._running:
                self._cond.wait(1.0)
        self.executor.stop()
        self.acker.stop()
        self.heartbeat.stop()
        try:
            pipe = self.conn.redis.pipeline(transaction=False)
            for name in self._consumed:
                pipe.xgroup_delconsumer(self.conn.keys.queue(name).stream, GROUP, self.worker_id)
            pipe.execute(raise_on_error=False)
            self.heartbeat.deregister()
        except redis.RedisError as exc:
            log.warning("could not deregister worker %s: %s", self.worker_id, exc)
        log.info("worker %s stopped", self.worker_id)

    def describe(self) -> dict[str, Any]:
        """What the workers registry shows about this worker."""
        return {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "tags": sorted(self.own_tags),
            "queues": self.queues,
            "concurrency": self.concurrency,
            "running": self._running,
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
                if not self._wait_for_slot():
                    continue
                started, waits, idle = self.claim_once()
                backoff = 0.1
                if started:
                    continue
                if self.burst and idle and not self._running and not len(self.held):
                    log.info("burst: nothing left to do")
                    return
                self._block(waits, max(0.001, next_refresh - time.monotonic()))
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                self.observer.redis_error("dispatch")
                log.warning("Redis unavailable (%s); retrying in %.1fs", exc, backoff)
                self._stopping.wait(backoff)
                backoff = min(backoff * 2, 5.0)

    def _wait_for_slot(self) -> bool:
        with self._cond:
            if self._running >= self.concurrency:
                self._cond.wait(1.0)
            return self._running < self.concurrency and not self._stopping.is_set()

    def claim_once(self) -> tuple[int, dict[str, str], bool]:
        """Claim jobs for the free slots from each queue in turn.

        Returns how many were claimed, what to block on if none, and whether
        every queue was empty (as opposed to capped).
        """
        free = self.concurrency - self._running
        waits: dict[str, str] = {}
        idle = True
        claimed = 0
        names = self.queues[self._rotate :] + self.queues[: self._rotate]
        self._rotate = (self._rotate + 1) % max(1, len(self.queues))
        for name in names:
            if free - claimed <= 0:
                break
            keys = self.conn.keys.queue(name)
            reply = self.conn.scripts.claim(keys, self.worker_id, free - claimed, self.lease_ms)
            kind = reply[0]
            if kind == CLAIMED:
                pairs = reply[2:]
                claimed += self._start(
                    name, [e.decode() for e in pairs[0::2]], [j.decode() for j in pairs[1::2]]
                )
            elif kind == EMPTY:
                waits[keys.stream] = reply[1].decode()
            elif kind == CAPPED:
                self.observer.denied(name)
                waits[keys.events] = reply[1].decode()
                idle = False
            # GONE: the queue was removed; the next refresh drops it.
        return claimed, waits, idle and not claimed

    def _start(self, queue: str, entries: list[str], job_ids: list[str]) -> int:
        """Mark claimed jobs running and hand them to slots; returns how many entries were taken."""
        reply = self.conn.scripts.start(self.conn.keys.queue(queue), job_ids, self.worker_id)
        default_ttl = self.configs[queue].result_ttl if queue in self.configs else 86_400
        runnable, others = [], []
        for i, (entry, job_id) in enumerate(zip(entries, job_ids)):
            status, fn, payload, attempts, timeout, ttl, enqueued = reply[i * 7 : i * 7 + 7]
            job = Claimed(
                queue,
                entry,
                job_id,
                fn.decode(),
                payload,
                int(attempts or 0),
                float(timeout) if timeout else None,
                int(ttl) if ttl else default_ttl,
                int(enqueued) / 1000 if enqueued else None,
            )
            if status == b"run":
                runnable.append(job)
            elif status == b"missing":
                others.append(Outcome(job, "dead", reason=MISSING_RECORD))
            else:  # a tombstone: cancelled while waiting
                others.append(Outcome(job, ""))
        self.held.add(runnable)
        self.held.add(o.claimed for o in others)
        with self._cond:
            self._running += len(runnable)
        self.observer.claimed(queue, runnable)
        for job in runnable:
            self.executor.submit(job)
        for outcome in others:
            self.acker.put(outcome)
        return len(job_ids)

    def _block(self, waits: dict[str, str], timeout: float) -> None:
        """Wait in Redis for a new entry or a released lease; never a sleep loop."""
        if not waits:
            self._stopping.wait(timeout)
            return
        self.conn.redis.xread(waits, count=1, block=max(1, int(timeout * 1000)))

    # -- slots ----------------------------------------------------------------

    def _run(self, job: Claimed) -> Outcome:
        return run_job(job, self.functions)

    def _done(self, outcome: Outcome) -> None:
        self.observer.finished(outcome, time.monotonic() - outcome.claimed.started)
        self.acker.put(outcome)
        with self._cond:
            self._running -= 1
            self._cond.notify()
