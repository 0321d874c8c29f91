"""Counting a worker's busy slots, and the jobs claimed ahead for them, shared by the
dispatcher, the slots and shutdown."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence

from .execution import Claimed

#: A queue of jobs that average less than this is drained with jobs claimed ahead.
SHORT_JOB_SECONDS = 0.005
#: Weight of the last job in the running average of job times.
_ALPHA = 0.1


class Slots:
    """``total`` slots; the dispatcher takes them, finished jobs give them back.

    Jobs claimed ahead (see dispatch.py) wait in ``ahead``, with their leases, for a
    slot: a slot that finishes a job takes the next one from there instead of freeing
    itself, so a short job's slot never waits for a claim's round trip.
    """

    def __init__(self, total: int) -> None:
        self.total = total
        self._busy = 0
        self._cond = threading.Condition()
        self._ahead: deque[Claimed] = deque()
        self._closed = False  # the worker is stopping: jobs ahead are handed back, not run
        self.ahead_limit = 0  # how many jobs may wait ahead; 0 while not claiming ahead
        self.average: float | None = None  # running average of job times (s), None before any
        self.submit: Callable[[Claimed], None] = _no_executor  # the executor's hand-off

    @property
    def busy(self) -> int:
        return self._busy

    @property
    def free(self) -> int:
        return self.total - self._busy

    @property
    def waiting(self) -> int:
        """Jobs claimed ahead that wait for a slot."""
        return len(self._ahead)

    @property
    def claimable(self) -> int:
        """How many jobs a claim may take now: one per free slot, and room ahead up to
        ``ahead_limit`` while claiming ahead."""
        return self.free + max(0, self.ahead_limit - len(self._ahead))

    @property
    def short(self) -> bool:
        """Whether the jobs run so far were short enough to claim ahead for."""
        return self.average is not None and self.average < SHORT_JOB_SECONDS

    def take(self, n: int) -> None:
        with self._cond:
            self._busy += n

    def place(self, jobs: Sequence[Claimed]) -> list[Claimed]:
        """Jobs just claimed: those for the free slots (oldest first, taken) are returned
        for the caller to submit; the rest wait ahead."""
        with self._cond:
            self._ahead.extend(jobs)
            n = min(self.total - self._busy, len(self._ahead))
            self._busy += n
            return [self._ahead.popleft() for _ in range(n)]

    def release(self) -> None:
        with self._cond:
            self._busy -= 1
            self._cond.notify_all()

    def finished(self, seconds: float) -> None:
        """A job ran ``seconds``: free its slot, or start the next job ahead in it."""
        with self._cond:
            avg = self.average
            self.average = seconds if avg is None else avg + _ALPHA * (seconds - avg)
            if self._ahead and not self._closed:
                job = self._ahead.popleft()
                if len(self._ahead) <= self.ahead_limit // 2:
                    self._cond.notify_all()  # room to claim ahead again
            else:
                self._busy -= 1
                self._cond.notify_all()
                return
        job.started = time.monotonic()  # its timeout counts from here, not from its claim
        self.submit(job)

    def _room(self) -> bool:
        if self._busy < self.total:
            return True
        return self.ahead_limit > 0 and len(self._ahead) <= self.ahead_limit // 2

    def wait_free(self, timeout: float) -> bool:
        """Wait up to ``timeout`` for a free slot, or for room ahead while claiming ahead;
        whether there is room to claim."""
        with self._cond:
            if not self._room():
                self._cond.wait(timeout)
            return self._room()

    def wait_idle(self, deadline: float, give_up: threading.Event) -> None:
        """Wait until no slot is busy, ``deadline`` (monotonic) passes or ``give_up`` is set."""
        with self._cond:
            while self._busy and not give_up.is_set() and time.monotonic() < deadline:
                self._cond.wait(min(0.2, max(0.0, deadline - time.monotonic())))

    def wake(self) -> None:
        """The worker stops: no job waiting ahead starts (shutdown hands them back)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()


def _no_executor(job: Claimed) -> None:
    raise RuntimeError("no executor was given to the slots")
