"""The worker's heartbeat: registry entry, lease renewal, stop requests, job deadlines.

It runs on its own thread, which job code running on other threads cannot
block for long (a job stuck in C code holding the GIL can: such jobs belong on
the process executor, whose parent heartbeats).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import redis

from .connection import Connection
from .held import Held
from .observer import Observer

if TYPE_CHECKING:
    from .reaper import Health

log = logging.getLogger("rqueues.worker")


class Heartbeat:
    def __init__(
        self,
        conn: Connection,
        worker_id: str,
        describe: Callable[[], dict[str, Any]],
        held: Held,
        lease_ms: int,
        interval: float,
        observer: Observer,
        health: Health,
    ) -> None:
        self._conn = conn
        self.worker_id = worker_id
        self._describe = describe
        self._held = held
        self._lease_ms = lease_ms
        self.interval = interval
        self._observer = observer
        self._health = health
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

    def beat(self) -> None:
        """Register as alive, renew held leases, pass on stop requests and timeouts."""
        held = self._held.snapshot()
        now = time.monotonic()
        running = [job for jobs in held.values() for job in jobs if not job.done]
        for job in running:
            if job.timeout is not None and now - job.started > job.timeout:
                job.cancel.set()
        keys = self._conn.keys
        info = {
            k: v if isinstance(v, (str, int, float)) else json.dumps(v) for k, v in self._describe().items()
        }
        pipe = self._conn.redis.pipeline(transaction=False)
        self._conn.scripts.beat(keys.workers, self.worker_id, client=pipe)
        pipe.hset(keys.worker(self.worker_id), mapping=info)
        pipe.pexpire(keys.worker(self.worker_id), int(self.interval * 10_000))
        for name, jobs in held.items():
            self._conn.scripts.renew(keys.queue(name), [j.job_id for j in jobs], self._lease_ms, client=pipe)
        for job in running:
            pipe.hget(keys.queue(job.queue).job(job.job_id), "stop")
        replies = self._conn.scripts.execute(pipe)
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        self._health.ok()
        self._observer.heartbeat()
        for name, lost in zip(held, replies[3 : 3 + len(held)]):
            # A lease missing because its job was acknowledged meanwhile is fine.
            gone = [self._held.find(x.decode()) for x in lost]
            gone_jobs = [job for job in gone if job is not None and not job.done]
            for job in gone_jobs:
                job.cancel.set()
            if gone_jobs:
                log.warning(
                    "leases of %d job(s) in queue %r expired before renewal (they may run elsewhere): %s",
                    len(gone_jobs), name, ", ".join(j.job_id for j in gone_jobs),
                )  # fmt: skip
        for job, stop in zip(running, replies[3 + len(held) :]):
            if stop and not job.stop_requested:
                log.info("stop requested for job %s", job.job_id)
                job.stop_requested = True
                job.cancel.set()

    def deregister(self) -> None:
        keys = self._conn.keys
        pipe = self._conn.redis.pipeline(transaction=False)
        pipe.zrem(keys.workers, self.worker_id)
        pipe.delete(keys.worker(self.worker_id))
        pipe.execute()
