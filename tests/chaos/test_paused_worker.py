"""A worker paused (SIGSTOP) for longer than dead_after, then resumed (SIGCONT): invariant 7.

Its job is given back and runs elsewhere; when it wakes, its heartbeat finds its
delivery gone, flags its own copy cancelled (logged once) and never renews the
lease of the delivery that replaced it; its copy's outcome is discarded, and it
goes on serving. What ran comes from the file the jobs append to, not from rqueues.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import tasks
import timeline
from chaos_checks import leaks, report

from rqueues import Connection, Queue

DEAD_AFTER = 2.0
FIRST = 30.0  # the first attempt runs until it sees its cancellation flag
LATER = 8.0  # the new delivery still runs long after the paused worker wakes


@pytest.mark.chaos
def test_a_paused_workers_copy_is_cancelled_its_outcome_discarded_and_it_serves_again(
    conn: Connection,
    redis_url: str,
    pools: Callable[..., Any],
    wait_until: Callable[..., Any],
    tmp_path: Path,
    chaos_figures: dict[str, Any],
) -> None:
    log = str(tmp_path / "runs.log")
    q = Queue("paused", conn)
    q.declare()
    sleeper = pools(redis_url, conn, 1, "--concurrency", "1", "--dead-after", str(DEAD_AFTER))
    paused_id = sleeper.current[0].worker_id
    paused_pid = sleeper.current[0].process.pid
    job = q.enqueue(tasks.chaos_cooperative_file, log, FIRST, LATER)
    wait_until(lambda: job.state == "running" and Path(log).exists(), what="the job to start")
    assert job.record().worker == paused_id

    other = pools(redis_url, conn, 1, "--concurrency", "1", "--dead-after", str(DEAD_AFTER))
    other_id = other.current[0].worker_id
    paused_at = sleeper.signal(0, signal.SIGSTOP)
    try:
        # Taken for dead after DEAD_AFTER; its job runs again on the other worker.
        wait_until(lambda: job.record().attempts == 2, timeout=20, what="the job to run elsewhere")
    finally:
        resumed_at = sleeper.signal(0, signal.SIGCONT)  # while the new delivery runs, under its lease
    cancelled = Path(log + ".cancelled")
    wait_until(cancelled.exists, timeout=15, what="the resumed worker to cancel its own copy")
    assert cancelled.read_text().split() == [job.id, str(paused_pid), "1"]
    assert job.wait(timeout=20) == f"{other.current[0].process.pid}:2"

    rec = job.record()
    assert (rec.state, rec.attempts, rec.reclaims, rec.worker) == ("succeeded", 2, 1, other_id)
    assert job.result == f"{other.current[0].process.pid}:2"  # the stale copy's outcome was discarded

    other.stop()  # from now on only the resumed worker consumes the queue
    later = q.enqueue(tasks.chaos_cooperative_file, log, 0.1, 0.1)
    assert later.wait(timeout=20) == f"{paused_pid}:1"
    assert later.record().worker == paused_id

    runs = timeline.parse(Path(log).read_text().splitlines())
    mine = [r for r in runs if r.job == job.id]
    other_pid = other.spawns[0].process.pid
    assert sorted((r.pid, r.attempt) for r in mine) == sorted([(paused_pid, 1), (other_pid, 2)])
    stale, new = sorted(mine, key=lambda r: r.attempt)
    # Cancelled at its first heartbeat after waking, not once the new delivery let go of the lease.
    assert stale.end is not None and new.end is not None and stale.end < new.end, mine
    assert all(r.end is not None for r in runs)
    sleeper.stop()
    output = sleeper.output(paused_id)
    lost = [line for line in output.splitlines() if "expired before renewal or were given back" in line]
    assert len(lost) == 1 and job.id in lost[0], output  # logged once, not every heartbeat
    left = leaks(conn, ["paused"])
    assert all(v == 0 for v in left.values()), left
    report(
        chaos_figures,
        "paused_worker",
        {
            "dead_after_s": DEAD_AFTER,
            "paused_s": round(resumed_at - paused_at, 3),
            "runs": len(mine),
            "attempts": rec.attempts,
            "reclaims": rec.reclaims,
            "leaks": left,
        },
    )
