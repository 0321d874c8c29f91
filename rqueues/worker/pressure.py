"""Whether Redis refuses writes for lack of memory, as a worker sees it; each change logged once.

Under ``noeviction`` at ``maxmemory`` Redis refuses every memory-growing command
and every script not flagged ``allow-oom``. A worker then takes no new job
(claims are refused), while its heartbeats, renewals, completions and releases,
whose scripts are flagged, go on; it resumes by itself when memory frees.
"""

from __future__ import annotations

import logging
import threading

import redis

log = logging.getLogger("rqueues.worker")


def is_oom(exc: BaseException) -> bool:
    """``exc`` is Redis refusing a write for lack of memory."""
    return isinstance(exc, redis.exceptions.OutOfMemoryError)


class Pressure:
    """Tracks Redis' out-of-memory refusals: logs once when they start and once when they end."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._refusing = False

    @property
    def refusing(self) -> bool:
        return self._refusing

    def refused(self, where: str) -> None:
        """A write ``where`` (dispatch, heartbeat) was refused for lack of memory."""
        with self._lock:
            if self._refusing:
                return
            self._refusing = True
        log.warning(
            "Redis is out of memory and refuses writes (%s refused; maxmemory reached with "
            "noeviction): taking no new jobs, running jobs keep their leases; free memory or "
            "raise maxmemory",
            where,
        )

    def accepted(self) -> None:
        """A write that Redis refuses under memory pressure went through."""
        with self._lock:
            if not self._refusing:
                return
            self._refusing = False
        log.info("Redis accepts writes again: taking jobs")
