"""When a worker is alive, and when a delivery is orphaned: the one rule everyone applies.

The reaper, the snapshot (``info``, ``top``, the exporter) and ``rqueues
workers`` all decide liveness here, from heartbeats stamped with Redis' clock.
A job's age never counts: a live worker keeps its jobs however long they run.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping

from . import defaults
from .errors import ConfigurationError

DEAD_AFTER = defaults.DEAD_AFTER
MIN_DEAD_AFTER = defaults.MIN_DEAD_AFTER
#: A pending delivery younger than this cannot have lost its lease yet (leases last far longer).
ORPHAN_IDLE_MS = 10_000

Clock = Callable[[], float]


def check_dead_after(dead_after: float, heartbeat_seconds: float = defaults.HEARTBEAT_SECONDS) -> float:
    """``dead_after`` if it leaves room for a late heartbeat, else ConfigurationError."""
    minimum = defaults.MIN_DEAD_AFTER_BEATS * heartbeat_seconds
    if not dead_after >= minimum:
        raise ConfigurationError(
            f"dead_after must be at least {defaults.MIN_DEAD_AFTER_BEATS} heartbeat intervals "
            f"({minimum:g}s), got {dead_after!r}"
        )
    return float(dead_after)


def is_live(beat_ms: float, now_ms: float, dead_after: float = DEAD_AFTER) -> bool:
    """A heartbeat stamped at ``beat_ms`` shows a live worker at ``now_ms`` (Redis' clock)."""
    return now_ms - beat_ms <= dead_after * 1000


def dead_cutoff(now_ms: int, dead_after: float = DEAD_AFTER) -> int:
    """The latest heartbeat stamp (ms) that shows a dead worker at ``now_ms``: is_live's complement."""
    return math.ceil(now_ms - dead_after * 1000) - 1


def live_workers(beats: Mapping[str, float], now_ms: float, dead_after: float = DEAD_AFTER) -> set[str]:
    """The ids in ``beats`` (worker id -> last heartbeat, ms) that are alive at ``now_ms``."""
    return {w for w, beat in beats.items() if is_live(beat, now_ms, dead_after)}


def death_reason(worker: str, beat_ms: float | None, now_ms: float) -> str:
    """Why ``worker`` counts as dead, for the record of the jobs taken from it."""
    if beat_ms is None:
        return f"worker {worker} died (not registered)"
    return f"worker {worker} died (no heartbeat for {(now_ms - beat_ms) / 1000:.1f}s)"


def is_orphan(lease_expiry_ms: float | None, now_ms: float) -> bool:
    """A live worker's delivery idle past ORPHAN_IDLE_MS is orphaned when its lease is gone."""
    return lease_expiry_ms is None or lease_expiry_ms < now_ms


class Health:
    """Whether Redis has answered continuously for ``settle`` seconds (by ``clock``).

    After an outage every worker's heartbeat is stale: reaping before they had a
    chance to beat again would take jobs from live workers.
    """

    def __init__(self, settle: float = DEAD_AFTER, clock: Clock = time.monotonic) -> None:
        self.settle = settle
        self._clock = clock
        self._since: float | None = None

    def ok(self) -> None:
        if self._since is None:
            self._since = self._clock()

    def failed(self) -> None:
        self._since = None

    def settled(self) -> bool:
        return self._since is not None and self._clock() - self._since >= self.settle
