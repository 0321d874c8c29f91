"""A job that runs for several times the reaper's threshold on a live worker is never taken from it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import tasks
import timeline
from chaos_checks import leaks, report

from rqueues import Connection, Queue

DEAD_AFTER = 2.0  # the least a worker accepts: two heartbeat intervals
SECONDS = 8.0  # four times DEAD_AFTER
LOG = "chaos:long:runs"


@pytest.mark.chaos
def test_a_long_job_on_a_live_worker_is_never_reclaimed_or_duplicated(
    conn: Connection,
    redis_url: str,
    pools: Callable[..., Any],
    wait_until: Callable[..., Any],
    chaos_figures: dict[str, Any],
) -> None:
    q = Queue("long", conn)
    q.declare(concurrency=1)
    # The job's worker does not reap, so every pass comes from the two others.
    runner = pools(redis_url, conn, 1, "--concurrency", "2", "--no-reaper")
    job = q.enqueue(tasks.chaos_record, redis_url, LOG, SECONDS)
    wait_until(lambda: conn.redis.llen(LOG) == 1, what="the job to start")
    started = timeline.parse(conn.redis.lrange(LOG, 0, -1))[0].start
    reapers = pools(redis_url, conn, 2, "--concurrency", "2", "--dead-after", str(DEAD_AFTER))
    reaper_key = conn.keys.reaper

    # Wait for a reaper pass made when the job had run for twice the threshold:
    # at that moment it must still be running, on its first attempt.
    def late_pass() -> bool:
        last = conn.redis.hget(reaper_key, "last_run")
        return last is not None and int(last) / 1000 >= started + 2 * DEAD_AFTER

    wait_until(late_pass, timeout=SECONDS, what="a reaper pass late in the job")
    holder = conn.redis.hget(reaper_key, "holder").decode()
    mid = job.record()
    assert (mid.state, mid.attempts, mid.reclaims) == ("running", 1, 0)
    assert mid.worker == runner.current[0].worker_id
    assert holder in reapers.live_ids()

    assert job.wait(timeout=SECONDS + 10) == job.id
    rec = job.record()
    runs = timeline.parse(conn.redis.lrange(LOG, 0, -1))
    assert len(runs) == 1 and runs[0].end is not None, runs
    assert (rec.state, rec.attempts, rec.reclaims) == ("succeeded", 1, 0)
    ran_for = (runs[0].end or 0.0) - runs[0].start
    assert ran_for >= SECONDS
    for pool in (runner, reapers):
        pool.stop()
        outputs = "".join(pool.output(s.worker_id) for s in pool.spawns)
        assert "gave back" not in outputs and "expired before renewal" not in outputs, pool.tail()
    assert int(conn.redis.hget(reaper_key, "reclaimed") or 0) == 0
    left = leaks(conn, ["long"])
    assert all(v == 0 for v in left.values()), left
    report(
        chaos_figures,
        "long_job",
        {
            "dead_after_s": DEAD_AFTER,
            "ran_for_s": round(ran_for, 3),
            "runs": len(runs),
            "attempts": rec.attempts,
            "reclaims": rec.reclaims,
            "leaks": left,
        },
    )
