"""The deliveries a worker holds leases for, shared by its dispatcher, acker and heartbeat.

Keyed by delivery (queue and stream entry id), never by job id: a worker can hold
two deliveries of one job (an old copy still running after its delivery was given
back, and the new one it claimed), and finishing one must not drop the other.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from .execution import Claimed


class Held:
    """Thread-safe map of queue -> entry id -> claimed job, from claim until acknowledged."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, dict[str, Claimed]] = {}

    def add(self, jobs: Iterable[Claimed]) -> None:
        with self._lock:
            for job in jobs:
                self._jobs.setdefault(job.queue, {})[job.entry] = job

    def remove(self, jobs: Iterable[Claimed]) -> None:
        """Forget these deliveries; another delivery of the same job stays."""
        with self._lock:
            for job in jobs:
                queue = self._jobs.get(job.queue)
                if queue is not None and queue.get(job.entry) is job:
                    del queue[job.entry]
                    if not queue:
                        del self._jobs[job.queue]

    def snapshot(self) -> dict[str, list[Claimed]]:
        with self._lock:
            return {q: list(jobs.values()) for q, jobs in self._jobs.items()}

    def find(self, queue: str, entry: str) -> Claimed | None:
        """The delivery ``entry`` of ``queue``, if held."""
        with self._lock:
            return self._jobs.get(queue, {}).get(entry)

    def __len__(self) -> int:
        with self._lock:
            return sum(len(jobs) for jobs in self._jobs.values())
