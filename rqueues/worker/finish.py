"""Finishing a run: settle its outcome, hand it to the acker, free its slot, whatever happens."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping

from ..config import QueueConfig
from ..retry import RetryPolicy
from .acker import Acker
from .execution import Claimed, Outcome
from .hooks import notify_retry
from .observer import Observer
from .settle import settle, unsettled
from .slots import Slots

log = logging.getLogger("rqueues.worker")


class Finisher:
    """Called by the executor for every finished run (``done``).

    ``refused`` maps queues whose jobs this worker could not import to their config
    version then: the worker stops taking them until they are declared again.
    """

    def __init__(
        self,
        configs: Callable[[], Mapping[str, QueueConfig]],
        acker: Acker,
        observer: Observer,
        slots: Slots,
        on_refused: Callable[[], None],
        release: Callable[[Claimed], None] | None = None,
    ) -> None:
        self._configs = configs
        self._acker = acker
        self._observer = observer
        self._slots = slots
        self._on_refused = on_refused
        self._release = release  # what the run held besides its slot: its GPUs (gpus.py)
        self.refused: dict[str, int] = {}

    def done(self, outcome: Outcome) -> None:
        """Settle a finished run and pass it to the acker. Whatever goes wrong here, the job
        gets an outcome (failed, with the reason) and its slot is freed."""
        job = outcome.claimed
        try:
            outcome = settle(outcome, self.policy(job))
            notify_retry(outcome)  # middleware's on_retry (hooks.py); never raises
            if outcome.state == "refused":
                self._refuse(outcome)
        except Exception as exc:
            log.exception("could not settle the outcome of job %s; failing it", job.job_id)
            outcome = unsettled(job, exc)
        try:
            job.done = True
            job.ran_for = time.monotonic() - job.started
            self._observer.finished(outcome, job.ran_for)
        except Exception:
            log.exception("observer failed on job %s", job.job_id)
        finally:
            self._acker.put(outcome)
            self._release_devices(job)  # before the slot: a claim the slot wakes finds them free
            self._slots.finished(job.ran_for)  # frees the slot, or starts a job claimed ahead in it

    def _release_devices(self, job: Claimed) -> None:
        if self._release is None:
            return
        try:
            self._release(job)
        except Exception:  # a bug here must not cost the slot too
            log.exception("could not release the GPUs of job %s", job.job_id)

    def policy(self, job: Claimed) -> RetryPolicy:
        config = self._configs().get(job.queue)
        base = config.retry if config else RetryPolicy()
        return base.with_overrides(job.options)

    def _refuse(self, outcome: Outcome) -> None:
        """This worker cannot import the job's function: stop taking its queue (logged once,
        until the queue is declared again); the acker gives the job back or fails it."""
        queue = outcome.claimed.queue
        if queue in self.refused:
            return
        config = self._configs().get(queue)
        self.refused[queue] = config.version if config else 0
        self._on_refused()  # re-select queues at the next dispatch step
        log.warning(
            "cannot run jobs of queue %r: %s; this worker stops taking that queue until it is "
            "declared again, and gives the job back for a worker that can run it",
            queue, outcome.reason,
        )  # fmt: skip
