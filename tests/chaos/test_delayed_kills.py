"""Delayed jobs under kill -9: every one is promoted once, runs not before its time, and is lost by no kill.

Three worker processes promote and run a few hundred delayed jobs whose due times
are spread over several seconds, while workers are killed at random and restarted.
promote.lua moves a job in one script call (off the scheduled set, record marked
queued, entry added), so a worker killed around a move leaves it either whole or not
done; a job moved twice would have a second entry that the claim drops as stray.
Checked against the run log the jobs write themselves (tasks.chaos_record).
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from typing import Any

import pytest
import tasks
import timeline
from chaos_checks import leaks, report

from rqueues import Connection, JobOptions, Queue

WORKERS = 3
KILLS = 4
JOBS = 300
SPREAD = 8.0  # due times spread over this many seconds
DEAD_AFTER = 2.0
LOG = "chaos:delayed:runs"


@pytest.mark.chaos
def test_delayed_jobs_run_once_when_due_while_workers_are_killed(
    conn: Connection,
    redis_url: str,
    pools: Callable[..., Any],
    chaos_figures: dict[str, Any],
) -> None:
    seed = int(os.environ.get("RQUEUES_CHAOS_SEED") or random.randrange(1 << 30))
    print(f"\n[chaos] delayed seed {seed}")
    rng = random.Random(seed)
    q = Queue("later", conn)
    q.declare(max_reclaims=50)
    pool = pools(
        redis_url, conn, WORKERS, "--concurrency", "4", "--dead-after", str(DEAD_AFTER),
        restart=True, max_restarts=KILLS + 2,
    )  # fmt: skip
    delays = [rng.uniform(0.5, SPREAD) for _ in range(JOBS)]
    calls = [(tasks.chaos_record, (redis_url, LOG, 0.01), {}, JobOptions(delay=d)) for d in delays]
    jobs = q.enqueue_many(calls)
    due = dict(
        zip([j.id for j in jobs], conn.redis.zmscore(q.keys.scheduled, [j.id for j in jobs]), strict=True)
    )
    assert all(v is not None for v in due.values())

    began = time.monotonic()
    for k in range(KILLS):  # kills spread over the due times: some land while promoting
        time.sleep(max(0.0, began + 1.0 + k * (SPREAD / KILLS) - time.monotonic()))
        pool.kill(rng.randrange(WORKERS))
    deadline = time.monotonic() + 60
    for job in jobs:
        job.wait(timeout=max(0.1, deadline - time.monotonic()))
    pool.stop()

    runs = timeline.parse(conn.redis.lrange(LOG, 0, -1))
    per_job = timeline.by_job(runs)
    records = {job.id: job.record() for job in jobs}
    problems = []
    for job_id, rec in records.items():
        mine = per_job.get(job_id, [])
        if rec.state != "succeeded":
            problems.append(f"{job_id}: {rec.state} {rec.error}")
        elif not any(r.end is not None for r in mine):
            problems.append(f"{job_id}: succeeded but no run reached its end")
        elif len(mine) > 1 + rec.reclaims:
            problems.append(f"{job_id}: {len(mine)} runs but {rec.reclaims} reclaims")
        elif rec.started_at is None or min(r.start for r in mine) * 1000 < (due[job_id] or 0) - 50:
            problems.append(f"{job_id}: started at {mine[0].start} before its due time {due[job_id]}")
    assert not problems, "\n".join(problems[:20])
    for job_id, mine in per_job.items():  # each attempt ran once (a kill may take a run before it logs)
        attempts = [r.attempt for r in mine]
        assert len(attempts) == len(set(attempts)), f"{job_id}: attempts {attempts}"
    assert conn.redis.zcard(q.keys.scheduled) == 0
    assert conn.redis.xlen(q.keys.dead) == 0
    left = leaks(conn, ["later"])
    assert [left[k] for k in ("leases", "pending", "scheduled", "stream_entries")] == [0] * 4, left
    assert pool.restarts == KILLS, pool.tail()
    report(chaos_figures, "delayed", {
        "seed": seed, "jobs": JOBS, "kills": KILLS, "runs": len(runs),
        "extra_runs_total": len(runs) - JOBS,
        "reclaims_total": sum(r.reclaims for r in records.values()),
    })  # fmt: skip
