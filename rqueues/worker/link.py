"""Whether a worker can reach Redis; a lost and a regained connection are each logged once.

The heartbeat and the dispatcher both report here, so an outage shows as one
warning when it starts and one line when it ends (with how long it lasted),
not a warning per heartbeat.
"""

from __future__ import annotations

import logging
import threading
import time

from ..liveness import Clock

log = logging.getLogger("rqueues.worker")


class Link:
    def __init__(self, url: str, clock: Clock = time.monotonic) -> None:
        self._url = url
        self._clock = clock
        self._lock = threading.Lock()
        self._down_since: float | None = None
        self._failures = 0

    @property
    def down(self) -> bool:
        return self._down_since is not None

    def failed(self, where: str, exc: BaseException) -> None:
        """A call to Redis from ``where`` (heartbeat, dispatch) failed with ``exc``."""
        with self._lock:
            self._failures += 1
            if self._down_since is not None:
                log.debug("%s: Redis still unreachable (%s)", where, exc)
                return
            self._down_since = self._clock()
        log.warning("lost Redis at %s (%s: %s); retrying until it answers", self._url, where, exc)

    def ok(self) -> None:
        """A call to Redis went through."""
        with self._lock:
            if self._down_since is None:
                return
            seconds, failures = self._clock() - self._down_since, self._failures
            self._down_since, self._failures = None, 0
        log.warning("reconnected to Redis at %s after %.1fs (%d failed calls)", self._url, seconds, failures)
