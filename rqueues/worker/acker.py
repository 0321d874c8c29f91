"""Stores outcomes and acknowledges jobs in batches, off the job threads."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import defaultdict

import redis

from ..backend import scripts
from ..backend.dependencies import Ref
from ..backend.store import Store
from .dependents import after_complete
from .execution import Outcome
from .held import Held
from .observer import Observer
from .progress import add_writes
from .refusal import Refusal, Refusals

log = logging.getLogger("rqueues.worker")
_RETRY_MAX = 5.0
#: Most outcomes one flush waits for while it lingers.
ACK_BATCH = 256


class Acker:
    """One thread drains finished jobs and completes them per queue in one pipeline.

    An outcome is kept until Redis has stored it: on a connection error the batch
    is retried with backoff, never dropped.
    """

    def __init__(
        self,
        conn: Store,
        held: Held,
        observer: Observer,
        refusals: Refusals | None = None,
        consumer: str = "",
    ) -> None:
        self._conn = conn
        self._consumer = consumer  # the worker id, which fences the final progress writes
        self._observer = observer
        self._held = held
        self._refusals = refusals
        self._todo: queue.SimpleQueue[Outcome | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name="rqueues-acker", daemon=True)
        self._give_up = threading.Event()
        self.linger = 0.0

    def start(self) -> None:
        self._thread.start()

    def put(self, outcome: Outcome) -> None:
        self._todo.put(outcome)

    def stop(self, timeout: float | None = None) -> None:
        """Flush what is queued, then end the thread."""
        self._todo.put(None)
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._give_up.set()
            self._thread.join(1.0)

    def _loop(self) -> None:
        while True:
            first = self._todo.get()
            batch = [] if first is None else [first]
            stop = first is None
            while True:
                try:
                    item = self._todo.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                else:
                    batch.append(item)
            if batch and not stop and self.linger:
                stop = self._gather(batch)
            if batch:
                self._flush(batch)
            if stop:
                return

    def _gather(self, batch: list[Outcome]) -> bool:
        """Add outcomes that arrive within ``linger`` while more held jobs may end; whether
        the stop marker came."""
        deadline = time.monotonic() + self.linger
        while len(batch) < ACK_BATCH and len(self._held) > len(batch):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            try:
                item = self._todo.get(timeout=remaining)
            except queue.Empty:
                return False
            if item is None:
                return True
            batch.append(item)
        return False

    def _flush(self, batch: list[Outcome]) -> None:
        delay = 0.05
        while True:
            try:
                self.complete(batch)
                return
            except redis.RedisError as exc:
                self._observer.redis_error("ack")
                log.warning("cannot store %d outcome(s), retrying in %.2fs: %s", len(batch), delay, exc)
            if self._give_up.wait(delay):
                log.error("gave up storing %d outcome(s); their jobs will be reclaimed", len(batch))
                return
            delay = min(delay * 2, _RETRY_MAX)

    def complete(self, batch: list[Outcome]) -> None:
        """Store and acknowledge a batch: one script call per queue, one round trip."""
        done, dead, unrun = self._sort(batch)
        calls = self._conn.scripts.batch(self._conn.redis)
        for name, refusals in unrun.items():
            calls.add(scripts.unrun(self._conn.keys.queue(name), [r.row() for r in refusals]))
        # Dead letters first: a waiter woken by a completion then sees them too.
        for name, items in dead.items():
            dead_rows = [(o.claimed.entry, o.claimed.job_id, o.reason) for o in items]
            calls.add(scripts.deadletter(self._conn.keys.queue(name), dead_rows))
        # A job's last progress report goes just before its outcome, while its lease still
        # fences it (best-effort: refused under OOM without holding up the outcomes).
        add_writes(calls, self._conn, self._consumer, (o.claimed for items in done.values() for o in items))
        completed = []
        for name, items in done.items():
            rows = [
                (c.entry, c.job_id, o.state, o.blob, c.result_ttl, o.delay_ms, c.attempts)
                for o in items
                for c in (o.claimed,)
            ]
            keys = self._conn.keys.queue(name)
            for part in scripts.complete_batches(rows):  # each call's jobs are one argument
                completed.append((name, calls.add(scripts.complete_noting(keys, part))))
        calls.execute(raise_first=True)
        self._held.remove(o.claimed for o in batch)
        dead_jobs = [Ref(o.claimed.queue, o.claimed.job_id) for items in dead.values() for o in items]
        after_complete(self._conn, completed, dead_jobs)
        try:
            self._observer.stored([o for items in (*done.values(), *dead.values()) for o in items])
        except Exception:  # a log or metrics bug must not make a stored outcome look unstored
            log.exception("observer failed after storing %d outcome(s)", len(batch))
        for r in (r for refusals in unrun.values() for r in refusals):
            job = r.outcome.claimed
            log.info(
                "job %s went back to queue %r for a worker that can run %s (refused by %s)",
                job.job_id, job.queue, job.function, ", ".join(r.refusers),
            )  # fmt: skip

    def _sort(
        self, batch: list[Outcome]
    ) -> tuple[dict[str, list[Outcome]], dict[str, list[Outcome]], dict[str, list[Refusal]]]:
        """Per queue: outcomes to complete, to dead-letter, and refused jobs to give back."""
        done: dict[str, list[Outcome]] = defaultdict(list)
        dead: dict[str, list[Outcome]] = defaultdict(list)
        unrun: dict[str, list[Refusal]] = defaultdict(list)
        for refusal in self._judge([o for o in batch if o.state == "refused"]):
            if refusal.give_back:
                unrun[refusal.outcome.claimed.queue].append(refusal)
            else:  # no live worker left that could run it
                failed = refusal.failed()
                log.warning("job %s failed: %s", failed.claimed.job_id, failed.reason)
                done[failed.claimed.queue].append(failed)
        for o in batch:
            if o.state != "refused":
                (dead if o.state == "dead" else done)[o.claimed.queue].append(o)
        return done, dead, unrun

    def _judge(self, refused: list[Outcome]) -> list[Refusal]:
        if not refused:
            return []
        if self._refusals is None:  # nobody to ask: this worker's word is final
            return [Refusal(o, (), give_back=False) for o in refused]
        return self._refusals.judge_all(refused)
