"""The worker's heartbeat: registry entry, lease renewal, stop requests, job deadlines.

It runs on its own thread, which job code running on other threads cannot
block for long (a job stuck in C code holding the GIL can: such jobs belong on
a process executor, planned, whose parent will heartbeat).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import redis

from ..backend import scripts
from ..backend.store import Store
from ..liveness import Clock, Health
from .held import Held
from .observer import Observer

log = logging.getLogger("rqueues.worker")


class Heartbeat:
    def __init__(
        self,
        conn: Store,
        worker_id: str,
        describe: Callable[[], dict[str, Any]],
        held: Held,
        lease_ms: int,
        interval: float,
        observer: Observer,
        health: Health,
        clock: Clock = time.monotonic,
    ) -> None:
        self._conn = conn
        self.worker_id = worker_id
        self._describe = describe
        self._held = held
        self._lease_ms = lease_ms
        self.interval = interval
        self._observer = observer
        self._health = health
        self._clock = clock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rqueues-heartbeat", daemon=True)

    def start(self) -> None:
        self.beat()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.beat()
            except redis.RedisError as exc:
                self._health.failed()
                self._observer.redis_error("heartbeat")
                log.warning("heartbeat failed (%s); retrying in %.1fs", exc, self.interval)
            except Exception:  # a bug or an odd record must not end the heartbeat: the worker would look dead
                log.exception("heartbeat failed; retrying in %.1fs", self.interval)

    def beat(self) -> None:
        """Register as alive, renew held leases, pass on stop requests and timeouts."""
        held = self._held.snapshot()
        now = self._clock()
        running = [job for jobs in held.values() for job in jobs if not job.done]
        for job in running:
            if job.timeout is not None and now - job.started > job.timeout:
                job.cancel.set()
        keys = self._conn.keys
        info = {
            k: v if isinstance(v, (str, int, float)) else json.dumps(v) for k, v in self._describe().items()
        }
        batch = self._conn.scripts.batch(self._conn.redis)
        batch.add(scripts.beat(keys.workers, self.worker_id))
        batch.command(lambda p: p.hset(keys.worker(self.worker_id), mapping=info))
        batch.command(lambda p: p.pexpire(keys.worker(self.worker_id), int(self.interval * 10_000)))
        renewals = {
            name: batch.add(scripts.renew(keys.queue(name), [j.job_id for j in jobs], self._lease_ms))
            for name, jobs in held.items()
        }
        stops = [(job, batch.command(_read_stop(keys.queue(job.queue).job(job.job_id)))) for job in running]
        batch.execute(raise_first=True)
        for name, renewal in renewals.items():
            self._lost(name, renewal.get())
        self._health.ok()
        self._observer.heartbeat()
        for job, stop in stops:
            if stop.get() and not job.stop_requested:
                log.info("stop requested for job %s", job.job_id)
                job.stop_requested = True
                job.cancel.set()

    def _lost(self, queue: str, job_ids: list[str]) -> None:
        """Flag held jobs whose lease was gone; one acknowledged meanwhile is fine."""
        gone = [self._held.find(job_id) for job_id in job_ids]
        gone_jobs = [job for job in gone if job is not None and not job.done]
        for job in gone_jobs:
            job.cancel.set()
        if gone_jobs:
            log.warning(
                "leases of %d job(s) in queue %r expired before renewal (they may run elsewhere): %s",
                len(gone_jobs), queue, ", ".join(j.job_id for j in gone_jobs),
            )  # fmt: skip

    def deregister(self) -> None:
        keys = self._conn.keys
        pipe = self._conn.redis.pipeline(transaction=False)
        pipe.zrem(keys.workers, self.worker_id)
        pipe.delete(keys.worker(self.worker_id))
        pipe.execute()


def _read_stop(job_key: str) -> Callable[[Any], Any]:
    return lambda pipe: pipe.hget(job_key, "stop")
