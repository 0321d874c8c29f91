"""The jobs a worker holds leases for, shared by its dispatcher, acker and heartbeat."""

from __future__ import annotations

import threading
from collections.abc import Iterable

from .execution import Claimed


class Held:
    """Thread-safe map of queue -> job id -> claimed job, from claim until acknowledged."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, dict[str, Claimed]] = {}

    def add(self, jobs: Iterable[Claimed]) -> None:
        with self._lock:
            for job in jobs:
                self._jobs.setdefault(job.queue, {})[job.job_id] = job

    def remove(self, jobs: Iterable[Claimed]) -> None:
        with self._lock:
            for job in jobs:
                queue = self._jobs.get(job.queue)
                if queue is not None:
                    queue.pop(job.job_id, None)
                    if not queue:
                        del self._jobs[job.queue]

    def snapshot(self) -> dict[str, list[Claimed]]:
        with self._lock:
            return {q: list(jobs.values()) for q, jobs in self._jobs.items()}

    def find(self, job_id: str) -> Claimed | None:
        with self._lock:
            for jobs in self._jobs.values():
                if job_id in jobs:
                    return jobs[job_id]
        return None

    def __len__(self) -> int:
        with self._lock:
            return sum(len(jobs) for jobs in self._jobs.values())
