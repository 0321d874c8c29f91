"""Counting a worker's busy slots, shared by the dispatcher, the slots and shutdown."""

from __future__ import annotations

import threading
import time


class Slots:
    """``total`` slots; the dispatcher takes them, finished jobs give them back."""

    def __init__(self, total: int) -> None:
        self.total = total
        self._busy = 0
        self._cond = threading.Condition()

    @property
    def busy(self) -> int:
        return self._busy

    @property
    def free(self) -> int:
        return self.total - self._busy

    def take(self, n: int) -> None:
        with self._cond:
            self._busy += n

    def release(self) -> None:
        with self._cond:
            self._busy -= 1
            self._cond.notify_all()

    def wait_free(self, timeout: float) -> bool:
        """Wait up to ``timeout`` for a free slot; whether one is free."""
        with self._cond:
            if self._busy >= self.total:
                self._cond.wait(timeout)
            return self._busy < self.total

    def wait_idle(self, deadline: float, give_up: threading.Event) -> None:
        """Wait until no slot is busy, ``deadline`` (monotonic) passes or ``give_up`` is set."""
        with self._cond:
            while self._busy and not give_up.is_set() and time.monotonic() < deadline:
                self._cond.wait(min(0.2, max(0.0, deadline - time.monotonic())))

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()
