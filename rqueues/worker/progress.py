"""Writing what running jobs report about themselves (progress, their GPUs) to their records.

A job's ``current_job().progress(...)`` only replaces the latest report kept in its
delivery (``Claimed.report_progress``): no round trip. The heartbeat adds the reports
that changed since the last write to the batch it sends every beat anyway (one
progress.lua call per queue, so at most one write per job per beat), and the acker
adds a job's last report before its outcome, in the same pipeline, so the final
progress stays in the record. The same goes for the devices the GPU allocator gave
it. A process child's report reaches its parent as a message, which the parent
stores with ``report_progress`` the same way.

Writes are fenced like renewals (progress.lua): a delivery taken from this worker
is never written. They are best-effort: refused while Redis is out of memory, sent
again at the next beat.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from ..backend import scripts
from ..backend.scripts import Batch, Pending
from ..backend.store import Store
from .execution import Claimed

Row = tuple[str, str, str, str, int, int, str]


def row(job: Claimed, now: float) -> Row | None:
    """What to write for ``job`` (its latest progress and gpus), or None when it is written.

    ``now`` is time.monotonic(): the row carries how long ago the report was made, and
    progress.lua stamps it with Redis' clock minus that age.
    """
    report, gpus = job.progress, job.gpus
    if job.lost or (report is job.noted[0] and gpus == job.noted[1]):
        return None
    fraction, message, age = "", "", 0
    if report is not None:
        fraction, message = repr(report[0]), report[1]
        age = max(0, int((now - report[2]) * 1000))
    return (job.entry, job.job_id, fraction, message, age, job.attempts, ",".join(gpus))


def add_writes(batch: Batch, conn: Store, consumer: str, jobs: Iterable[Claimed]) -> Callable[[], None]:
    """Queue the writes ``jobs`` need on ``batch``, one call per queue; returns what to call
    once the batch has executed: it marks the writes that went through as written."""
    now = time.monotonic()
    by_queue: dict[str, list[tuple[Claimed, Row, Any]]] = {}
    for job in jobs:
        found = row(job, now)
        if found is not None:
            by_queue.setdefault(job.queue, []).append((job, found, (job.progress, job.gpus)))
    sent: list[tuple[Pending[int], list[tuple[Claimed, Row, Any]]]] = []
    for name, items in by_queue.items():
        call = scripts.progress(conn.keys.queue(name), consumer, [r for _, r, _ in items])
        sent.append((batch.add(call, best_effort=True), items))

    def written() -> None:
        for pending, items in sent:
            if pending.error is None:
                for job, _, noted in items:
                    job.noted = noted

    return written
