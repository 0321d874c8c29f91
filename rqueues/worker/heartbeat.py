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
from typing import Any

import redis

from ..backend import scripts
from ..backend.clients import redact
from ..backend.store import Store
from ..liveness import Clock, Health
from .held import Held
from .link import Link
from .observer import Observer
from .pressure import Pressure, is_oom
from .progress import add_writes

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
        pressure: Pressure | None = None,
        link: Link | None = None,
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
        self.link = link or Link(redact(conn.url), clock)
        self._pressure = pressure or Pressure()
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
                self.link.failed("heartbeat", exc)  # logged once per outage, not every beat
            except Exception:  # a bug or an odd record must not end the heartbeat: the worker would look dead
                log.exception("heartbeat failed; retrying in %.1fs", self.interval)

    def beat(self) -> None:
        """Register as alive, renew held leases, pass on stop requests and timeouts."""
        held = {q: [j for j in jobs if not j.lost] for q, jobs in self._held.snapshot().items()}
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
        stamp = batch.add(scripts.beat(keys.workers, self.worker_id))
        described = batch.command(lambda p: p.hset(keys.worker(self.worker_id), mapping=info))
        expiry = batch.command(lambda p: p.pexpire(keys.worker(self.worker_id), int(self.interval * 10_000)))
        renewals = {
            name: batch.add(
                scripts.renew(keys.queue(name), self.worker_id, [j.entry for j in jobs], self._lease_ms)
            )
            for name, jobs in held.items()
            if jobs
        }
        stops = [(job, batch.command(_read_stop(keys.queue(job.queue).job(job.job_id)))) for job in running]
        noted = add_writes(batch, self._conn, self.worker_id, running)  # progress, gpus: best-effort
        batch.execute()
        noted()
        # The stamp and the renewals are allow-oom scripts: they go through while Redis is out
        # of memory. The description is a plain write, which Redis then refuses.
        refused = described.error is not None and is_oom(described.error)
        for pending in (stamp, expiry, *renewals.values(), *(stop for _, stop in stops)):
            pending.get()
        if not refused:
            described.get()
        for name, renewal in renewals.items():
            self._lost(name, renewal.get())
        if refused:
            self._pressure.refused("worker description")
            self._health.failed()  # no reaping while writes are refused, nor until they settle
        else:
            self._pressure.accepted()
            self._health.ok()
        self.link.ok()
        self._observer.heartbeat()
        for job, stop in stops:
            if stop.get() and not job.stop_requested:
                log.info("stop requested for job %s", job.job_id)
                job.stop_requested = True
                job.cancel.set()

    def _lost(self, queue: str, entries: list[str]) -> None:
        """Flag held deliveries that are no longer this worker's, each once.

        Their leases are not renewed again (whatever delivery replaced them keeps its
        own lease), their jobs' cancellation flags are set, and an outcome of a
        delivery that was given back is discarded by complete.lua. One acknowledged
        meanwhile is fine.
        """
        newly = []
        for entry in entries:
            job = self._held.find(queue, entry)
            if job is None or job.lost:
                continue
            job.lost = True
            if not job.done:
                job.cancel.set()
                newly.append(job)
        if newly:
            log.warning(
                "leases of %d job(s) in queue %r expired before renewal or were given back "
                "(they may run elsewhere); cancelled, and an outcome of a delivery given back "
                "is discarded: %s",
                len(newly), queue, ", ".join(f"{j.job_id} (entry {j.entry})" for j in newly),
            )  # fmt: skip

    def deregister(self) -> None:
        keys = self._conn.keys
        pipe = self._conn.redis.pipeline(transaction=False)
        pipe.zrem(keys.workers, self.worker_id)
        pipe.delete(keys.worker(self.worker_id))
        pipe.execute()


def _read_stop(job_key: str) -> Callable[[Any], Any]:
    return lambda pipe: pipe.hget(job_key, "stop")
