"""SIGTERM with jobs running: past the drain timeout they are handed back and run elsewhere at once."""

from __future__ import annotations

import signal
from collections.abc import Callable
from typing import Any

import pytest
import tasks
import timeline
from chaos_checks import leaks, report

from rqueues import Connection, Queue

JOBS = 3
# The first attempt outlasts any start-up of the second worker on a loaded machine (it is
# handed back long before it ends); the second attempt is short.
FIRST, LATER = 60.0, 1.0
LEASE = 30.0  # the worker's lease: a handed-back job must not wait for it
LOG = "chaos:grace:runs"


@pytest.mark.chaos
def test_sigterm_hands_running_jobs_back_and_they_run_elsewhere_without_waiting_for_the_lease(
    conn: Connection,
    redis_url: str,
    pools: Callable[..., Any],
    wait_until: Callable[..., Any],
    chaos_figures: dict[str, Any],
) -> None:
    q = Queue("grace", conn)
    # Capped: another worker can take the jobs only once their leases are released.
    q.declare(concurrency=JOBS)
    # No reaper anywhere: only the hand-back can bring the jobs back before the lease expires.
    args = ("--concurrency", str(JOBS), "--shutdown-timeout", "0.5", "--no-reaper")
    first = pools(redis_url, conn, 1, *args)
    jobs = q.enqueue_many(
        [(tasks.chaos_record_attempts, (redis_url, LOG, FIRST, LATER), {}) for _ in range(JOBS)]
    )
    wait_until(lambda: conn.redis.llen(LOG) == JOBS, what="the jobs to start on the first worker")
    second = pools(redis_url, conn, 1, *args)

    stopped_at = first.signal(0, signal.SIGTERM)
    assert first.current[0].process.wait(20) == 0, first.tail()
    for job in jobs:
        assert job.wait(timeout=LEASE) == job.id

    runs = timeline.parse(conn.redis.lrange(LOG, 0, -1))
    first_pid, second_pid = first.current[0].process.pid, second.current[0].process.pid
    assert sorted((r.pid, r.end is None) for r in runs) == sorted(
        [(first_pid, True)] * JOBS + [(second_pid, False)] * JOBS
    ), runs
    restarts = sorted(r.start - stopped_at for r in runs if r.pid == second_pid)
    assert max(restarts) < LEASE / 3, f"handed-back jobs started {restarts} s after SIGTERM"
    for job in jobs:
        rec = job.record()
        assert (rec.state, rec.worker, rec.attempts, rec.reclaims) == (
            "succeeded", second.current[0].worker_id, 2, 0,
        )  # fmt: skip
    assert "handed back 3 unfinished job(s)" in first.output(first.current[0].worker_id)
    second.stop()
    left = leaks(conn, ["grace"])
    assert all(v == 0 for v in left.values()), left
    report(
        chaos_figures,
        "graceful_stop",
        {
            "jobs": JOBS,
            "shutdown_timeout_s": 0.5,
            "sigterm_to_running_elsewhere_s": timeline.summary(restarts),
            "lease_s": LEASE,
            "leaks": left,
        },
    )
