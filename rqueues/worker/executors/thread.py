"""The thread executor: a fixed number of slots, each a thread running one job at a time.

A thread cannot be killed: a job's timeout, a stop or a lost delivery sets its
cancellation flag, which the job should poll (``current_job().cancelled``); a job
that returns after its timeout is recorded as failed with JobTimeout.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

from ...config import QueueConfig
from ..execution import Claimed, Outcome
from ..settle import unsettled

log = logging.getLogger("rqueues.worker")


class ThreadExecutor:
    """Runs jobs on ``slots`` threads and reports each outcome through ``on_done``."""

    def __init__(
        self, slots: int, run: Callable[[Claimed], Outcome], on_done: Callable[[Outcome], None]
    ) -> None:
        self.slots = slots
        self._run = run
        self._on_done = on_done
        self._todo: queue.SimpleQueue[Claimed | Callable[[], None] | None] = queue.SimpleQueue()
        self._started = False
        self._mine = threading.local()  # per slot thread: the job it starts next, if it has one
        self._threads = [
            threading.Thread(target=self._slot, name=f"rqueues-slot-{i}", daemon=True) for i in range(slots)
        ]

    def start(self) -> None:
        for t in self._threads:
            t.start()
        self._started = True

    def submit(self, job: Claimed, config: QueueConfig | None = None) -> None:
        mine = self._mine
        if getattr(mine, "ending", False) and mine.next is None:
            mine.next = job  # a slot that ends a job starts the next one itself (slots.finished)
        else:
            self._todo.put(job)

    def lend(self, fn: Callable[[], None]) -> bool:
        """Run ``fn`` on an idle slot thread, which then runs the first job ``fn`` submits
        before any other (dispatch.py's wake-up); False when the slot threads do not run.
        The caller makes sure one is idle: ``fn`` waits for one otherwise."""
        if not self._started:
            return False
        self._todo.put(fn)
        return True

    def _lent(self, fn: Callable[[], None]) -> None:
        self._mine.ending = True
        try:
            fn()
        except Exception:  # fn reports its own errors; this is a bug, and the slot lives on
            log.exception("slot failed to run a lent call")
        finally:
            self._mine.ending = False

    def abandon(self) -> None:
        """A thread cannot be stopped: the jobs' cancellation flags (set by the hand-back) are all."""

    def stop(self, timeout: float | None = None) -> None:
        """Let queued jobs finish, then end the slot threads."""
        for _ in self._threads:
            self._todo.put(None)
        for t in self._threads:
            t.join(timeout)

    def _slot(self) -> None:
        mine = self._mine
        mine.next, mine.ending = None, False
        while True:
            job, mine.next = mine.next, None
            if job is None and (job := self._todo.get()) is None:
                return
            if not isinstance(job, Claimed):  # lent: run it; the first job it submits runs next
                self._lent(job)
                continue
            try:
                outcome = self._run(job)
            except BaseException as exc:  # run_job never raises; if it did, the job still ends
                log.exception("slot failed to run job %s", job.job_id)
                outcome = unsettled(job, exc)
            mine.ending = True  # a job submitted meanwhile is this slot's next (no other thread woken)
            try:
                self._on_done(outcome)
            except Exception:  # a bug must not cost the worker a slot for good
                log.exception("slot failed to finish job %s", job.job_id)
            finally:
                mine.ending = False
