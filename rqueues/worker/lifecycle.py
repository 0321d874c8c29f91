"""The worker's lifecycle: start its threads, run the dispatch loop, stop and hand back.

Threads: the dispatcher (the caller of run()) claims and blocks in Redis when
idle (dispatch.py); slot threads run jobs (executors/); the acker stores
outcomes in batches; the heartbeat renews leases; the reaper gives back the
jobs of dead workers.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import redis

from .. import defaults
from ..backend.clients import redact
from ..backend.keys import check_queue_name
from ..backend.settings import setting_warnings
from ..backend.store import Store, as_store
from ..config import ConfigProblems, QueueConfig
from ..context import check_progress
from ..errors import ConfigurationError, RedisUnavailable
from ..functions import FunctionRegistry
from ..liveness import Clock, Health, check_dead_after
from ..routing import automatic_tags
from .acker import Acker
from .cron import run_ticker
from .dispatch import ClaimRound, Dispatcher
from .execution import Claimed, Outcome, run_job
from .executors.aio import AsyncioExecutor
from .executors.process import ProcessExecutor
from .executors.router import Router
from .executors.thread import ThreadExecutor
from .finish import Finisher
from .gpus import GpuGate, resolve_gpus
from .heartbeat import Heartbeat
from .held import Held
from .joblog import JobLog
from .link import Link
from .observer import Observer, Observers
from .pressure import Pressure, is_oom
from .reaper import Reaper, run_reaper
from .refusal import Refusals
from .registry import refuse_live_duplicate
from .selection import select_queues
from .shutdown import hand_back, leave, wake
from .slots import Slots

log = logging.getLogger("rqueues.worker")


def default_worker_id() -> str:
    return f"{socket.gethostname()}.{os.getpid()}.{os.urandom(2).hex()}"


def _observers(job_logs: JobLog | bool, observer: Observer | None) -> Observer:
    """Job log lines come first: a job's start is logged before metrics count it."""
    joblog = job_logs if isinstance(job_logs, JobLog) else JobLog(lines=bool(job_logs))
    return Observers(joblog, observer) if observer else joblog


def _check_timing(
    concurrency: int, lease_seconds: float, heartbeat_seconds: float, dead_after: float
) -> None:
    if not isinstance(concurrency, int) or concurrency < 1:
        raise ConfigurationError(f"concurrency must be an integer >= 1, got {concurrency!r}")
    if lease_seconds <= 3 * heartbeat_seconds:
        raise ConfigurationError("lease_seconds must exceed three heartbeat intervals")
    check_dead_after(dead_after, heartbeat_seconds)


def _progress(job: Claimed, data: Any) -> None:
    """A progress message (JobContext.progress, from any executor): kept for the heartbeat."""
    job.report_progress(*check_progress(*data))


class Worker:
    """Consumes declared queues whose tag patterns match this worker's tags."""

    def __init__(
        self,
        connection: Any = None,
        *,
        queues: Iterable[str] | None = None,
        tags: Iterable[str] = (),
        concurrency: int = defaults.CONCURRENCY,
        imports: Iterable[str] = (),
        burst: bool = False,
        worker_id: str | None = None,
        lease_seconds: float = defaults.LEASE_SECONDS,
        heartbeat_seconds: float = defaults.HEARTBEAT_SECONDS,
        refresh_seconds: float = defaults.REFRESH_SECONDS,
        shutdown_timeout: float = defaults.SHUTDOWN_TIMEOUT,
        reaper: bool = True,
        cron: bool = True,
        dead_after: float = defaults.DEAD_AFTER,
        observer: Observer | None = None,
        job_logs: JobLog | bool = True,
        clock: Clock = time.monotonic,
        gpus: str | Iterable[str] | None = None,
    ) -> None:
        _check_timing(concurrency, lease_seconds, heartbeat_seconds, dead_after)
        self.conn: Store = as_store(connection)
        self.worker_id = worker_id or default_worker_id()
        # GPU slots ("auto", "0,1", ids): each job of a gpus_per_job queue gets its own (gpus.py).
        self.gpus = GpuGate(resolve_gpus(gpus), self._wake_for_gpus)
        self.own_tags = set(tags)
        self.tags = self.own_tags | automatic_tags(self.worker_id, len(self.gpus.devices))
        self.explicit = [check_queue_name(q) for q in queues] if queues else None
        self.concurrency, self.burst, self.clock = concurrency, burst, clock
        self.functions, self.lease_ms = FunctionRegistry(imports), int(lease_seconds * 1000)
        self.refresh_seconds, self.shutdown_timeout = refresh_seconds, shutdown_timeout
        self.observer, self.link = _observers(job_logs, observer), Link(redact(self.conn.url), clock)
        self.held, self.slots = Held(), Slots(concurrency)
        self.health, self.pressure = Health(settle=dead_after, clock=clock), Pressure()
        refused = Refusals(self.conn, self.worker_id, dead_after)
        self.acker = Acker(self.conn, self.held, self.observer, refused, consumer=self.worker_id)
        self.finisher = Finisher(
            lambda: self.dispatcher.configs, self.acker, self.observer, self.slots, self._refresh_now,
            self.gpus.release,
        )  # fmt: skip
        #: kind -> handler(job, data) of the messages job code sends (JobContext._report).
        self.message_handlers: dict[str, Callable[[Claimed, Any], None]] = {"progress": _progress}
        self.executor = _executors(self, concurrency)
        self.dispatcher = Dispatcher(
            self.conn, self.worker_id, self.lease_ms, self.slots, self.held, self.acker, self.executor,
            self.observer, clock, self.gpus,
        )  # fmt: skip
        self.heartbeat = Heartbeat(
            self.conn, self.worker_id, self.describe, self.held, self.lease_ms, heartbeat_seconds,
            self.observer, self.health, clock, self.pressure, self.link,
        )  # fmt: skip
        self.reaper = Reaper(self.conn, dead_after=dead_after, holder=self.worker_id) if reaper else None
        # cron: run the periodic jobs' ticker (every worker may: each tick is enqueued once).
        self.cron, self.started_at = cron, time.time()
        self._stopping, self._hard, self._reaper_stop = (threading.Event() for _ in range(3))
        self._consumed: set[str] = set()  # queues consumed since start: left at shutdown
        self._warned: set[str] = set()  # routing warnings logged once
        self.config_problems, self._next_refresh = ConfigProblems(), 0.0

    @property
    def queues(self) -> list[str]:
        return list(self.dispatcher.queues)

    @property
    def configs(self) -> dict[str, QueueConfig]:
        return dict(self.dispatcher.configs)

    # -- lifecycle ----------------------------------------------------------

    def run(self, install_signals: bool = True) -> None:
        """Work until stop() or a signal (or, in burst mode, until nothing is left)."""
        if install_signals and threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, self._on_signal)
            signal.signal(signal.SIGQUIT, self._on_quit)
        with self.conn.guard():
            refuse_live_duplicate(self.conn, self.worker_id, self.health.settle)
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
        if self.cron:
            threading.Thread(
                target=run_ticker, args=(self.conn, self._reaper_stop), name="rqueues-cron", daemon=True
            ).start()
        log.info(
            "worker %s started: concurrency %d, tags %s, queues %s, GPUs %s",
            self.worker_id, self.concurrency, sorted(self.own_tags) or "none", self.queues or "none yet",
            ",".join(self.gpus.devices) or "none",
        )  # fmt: skip
        if not self.functions.modules:
            log.warning(
                "worker %s was started with no --import: it can run no job (each job it takes goes "
                "back to its queue, and it stops taking that queue); start it with --import MODULE",
                self.worker_id,
            )
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
        self.slots.wake()
        # Off this thread: stop() runs in signal handlers, which must not touch the pool's lock.
        args = (self.conn, self.queues, self.worker_id)
        threading.Thread(target=wake, args=args, name="rqueues-wake", daemon=True).start()

    def _on_signal(self, signum: int, frame: Any) -> None:
        name = signal.Signals(signum).name
        if self._stopping.is_set():
            log.warning("%s again: stopping now, handing back %d running job(s)", name, self.slots.busy)
            self.stop(hard=True)
            return
        log.info(
            "%s: stopping, letting %d running job(s) finish for up to %gs",
            name, self.slots.busy, self.shutdown_timeout,
        )  # fmt: skip
        self.stop()

    def _on_quit(self, signum: int, frame: Any) -> None:
        log.warning("SIGQUIT: stopping now, handing back %d running job(s)", self.slots.busy)
        self.stop(hard=True)

    def _shutdown(self) -> None:
        self.slots.wait_idle(time.monotonic() + self.shutdown_timeout, self._hard)
        self._reaper_stop.set()
        running = [j for jobs in self.held.snapshot().values() for j in jobs if not j.done]
        leftover = [j for j in running if not j.lost]  # a lost delivery is no longer ours to hand back
        if running:
            self.executor.abandon()  # children killed first: a job handed back never runs twice at once
        if leftover:
            hand_back(self.conn, self.held, leftover)
        self.executor.stop(timeout=None if not running else 0)
        self.acker.stop(timeout=10.0)
        self.heartbeat.stop()
        try:
            leave(self.conn, self.worker_id, self._consumed, self.heartbeat)
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
            "running": self.slots.busy,
            "jobs": [j.job_id for jobs in self.held.snapshot().values() for j in jobs if not j.done],
            "started_at": int(self.started_at * 1000),
            **({"gpus": self.gpus.holders()} if self.gpus.devices else {}),
        }

    # -- queue set ------------------------------------------------------------

    def refresh(self) -> None:
        """Re-read which queues exist and which of them this worker may consume.

        A queue whose config hash is malformed is skipped (logged once per config
        version); the others are served as usual.
        """
        names = self.explicit or self.conn.declared_queues()
        pipe = self.conn.redis.pipeline(transaction=False)
        for name in names:
            pipe.hgetall(self.conn.keys.queue(name).config)
        raws = dict(zip(names, pipe.execute(), strict=True))
        configs = self.config_problems.parse(raws, "this worker does not take its jobs until it is fixed")
        malformed = {n for n, raw in raws.items() if raw and n not in configs}
        for name, version in list(self.finisher.refused.items()):
            config = configs.get(name)
            if config is not None and config.version != version:
                del self.finisher.refused[name]
                log.info("queue %r was declared again: taking its jobs again", name)
        excluded = malformed | set(self.finisher.refused)
        selection = select_queues(names, configs, self.tags, explicit=bool(self.explicit), excluded=excluded)
        for key, message in selection.warnings:
            if key not in self._warned:
                self._warned.add(key)
                log.warning(message)
        if selection.queues != self.dispatcher.queues:
            log.info("consuming queues: %s", ", ".join(selection.queues) or "none")
        self.dispatcher.queues, self.dispatcher.configs = selection.queues, configs
        self._consumed.update(selection.queues)

    # -- dispatch -----------------------------------------------------------

    def run_once(self, block: bool = True) -> ClaimRound:
        """One dispatch step: refresh the queue set when due, promote due jobs, claim for
        the free slots, and, when nothing was taken and ``block``, wait in Redis."""
        if self.clock() >= self._next_refresh:
            self.refresh()
            self._next_refresh = self.clock() + self.refresh_seconds
        self.dispatcher.promote_due()
        if not self.slots.wait_free(1.0 if block else 0.0) or self._stopping.is_set():
            return ClaimRound(idle=False)
        result = self.dispatcher.claim_once()
        if self.dispatcher.queues:
            self.pressure.accepted()  # a claim went through: Redis accepts writes
        if result.stale:
            self._next_refresh = 0.0  # re-read the configs and re-route before the next claim
            return result
        if result.claimed or not block or self._burst_done(result):
            return result
        wake = min([self._next_refresh, *self.dispatcher.due.values(), *self.dispatcher.permits.values()])
        timeout = max(0.001, wake - self.clock())
        if not result.waits:
            self._stopping.wait(timeout)
            return result
        woke = self.dispatcher.block(result, timeout, self._stopping.is_set)
        if woke.stale:
            self._next_refresh = 0.0
        return woke if woke.claimed else result

    def _wake_for_gpus(self, queues: Sequence[str]) -> None:
        wake(self.conn, queues, self.worker_id)  # a claim waits for the devices a job just freed

    def _refresh_now(self) -> None:
        self._next_refresh = 0.0

    def _burst_done(self, result: ClaimRound) -> bool:
        return (
            self.burst
            and result.idle
            and not self.dispatcher.due
            and not self.slots.busy
            and not len(self.held)
        )

    def _loop(self) -> None:
        backoff = 0.1
        while not self._stopping.is_set():
            try:
                result = self.run_once()
                backoff = 0.1
                if self._burst_done(result) and not result.claimed:
                    log.info("burst: nothing left to do")
                    return
            except (redis.RedisError, RedisUnavailable) as exc:  # refresh() raises the latter
                # Connection loss, a failover, OOM refusals: the loop must outlive them all.
                self.observer.redis_error("dispatch")
                if is_oom(exc):  # logged once; the heartbeat logs when writes go through again
                    self.pressure.refused("claim")  # promote and start are refused alike
                    self._stopping.wait(defaults.OOM_RETRY_SECONDS)
                    continue
                if isinstance(exc, (redis.ConnectionError, redis.TimeoutError, RedisUnavailable)):
                    self.link.failed("dispatch", exc)  # logged once per outage
                else:
                    log.warning("Redis error (%s); retrying in %.1fs", exc, backoff)
                self._stopping.wait(backoff)
                backoff = min(backoff * 2, 5.0)
            except Exception:  # a bug or a record no check foresaw must not end the dispatcher
                log.exception("dispatch step failed; retrying in %.1fs", backoff)
                self._stopping.wait(backoff)
                backoff = min(backoff * 2, 5.0)

    # -- slots ----------------------------------------------------------------

    def _run(self, job: Claimed) -> Outcome:
        return run_job(
            job, self.functions, self.conn.max_result_bytes, lambda k, d: self._on_message(job, k, d)
        )

    def _on_message(self, job: Claimed, kind: str, data: Any) -> None:
        """A message job code sent (JobContext._report), passed to the handler of its kind."""
        handler = self.message_handlers.get(kind)
        if handler is None:
            log.debug("job %s sent a %r message, which nothing handles", job.job_id, kind)
            return
        handler(job, data)


def _executors(worker: Worker, concurrency: int) -> Router:
    """The thread, process and asyncio executors, each job sent to its queue's."""
    done, max_result = worker.finisher.done, worker.conn.max_result_bytes
    return Router(
        lambda: worker.dispatcher.configs,
        {
            "thread": ThreadExecutor(concurrency, worker._run, done),
            "process": ProcessExecutor(
                worker.functions.modules,
                done,
                worker._on_message,
                max_result,
                on_replaced=worker.observer.child_replaced,
            ),
            "asyncio": AsyncioExecutor(worker.functions, concurrency, done, worker._on_message, max_result),
        },
    )
