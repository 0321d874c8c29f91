"""Kill -9 storm: worker processes killed at random and restarted while a few hundred jobs run.

Invariants 1 to 3 of docs/internals.md, checked against the run log the jobs write
themselves (tasks.chaos_record), not against rqueues' own bookkeeping.
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
from chaos_checks import leaks, release_times, report

from rqueues import Connection, Job, Queue
from rqueues.options import JobOptions

WORKERS = 3
KILLS = 8
STORM_SECONDS = 28.0  # kills and enqueues are spread over this
DEAD_AFTER = 2.0
CAP = 2
LOG = "chaos:storm:runs"


def plan_jobs(rng: random.Random) -> list[tuple[str, float]]:
    """(queue, seconds) per job: mostly short, some long enough to be killed mid-run."""
    jobs = [("capped", rng.choice((0.02, 0.05, 0.1))) for _ in range(100)]
    jobs += [("capped", rng.uniform(0.8, 1.5)) for _ in range(15)]
    jobs += [("free", rng.choice((0.02, 0.05, 0.1))) for _ in range(160)]
    jobs += [("free", rng.uniform(1.0, 3.0)) for _ in range(40)]
    rng.shuffle(jobs)
    return jobs


def schedule(rng: random.Random) -> list[tuple[float, str]]:
    """(seconds from the start, 'enqueue' | 'kill'): enqueue waves every 0.5 s, kills 2.5-3.5 s apart."""
    waves = int(STORM_SECONDS / 0.5)
    events = [(i * 0.5, "enqueue") for i in range(waves)]
    at = 2.0
    for _ in range(KILLS):
        events.append((at, "kill"))
        at += rng.uniform(2.5, 3.5)
    return sorted(events)


def run_storm(
    conn: Connection, url: str, pool: Any, rng: random.Random, plan: list[tuple[str, float]]
) -> list[Job]:
    queues = {name: Queue(name, conn) for name in ("capped", "free")}
    events = schedule(rng)
    waves = sum(1 for _, kind in events if kind == "enqueue")
    per_wave = -(-len(plan) // waves)
    todo = list(plan)
    jobs: list[Job] = []
    began = time.monotonic()
    for at, kind in events:
        time.sleep(max(0.0, began + at - time.monotonic()))  # the storm's own schedule, not a poll
        if kind == "kill":
            pool.kill(rng.randrange(WORKERS))
            continue
        batch, todo = todo[:per_wave], todo[per_wave:]
        for name in ("capped", "free"):
            calls: list[tuple[Any, ...]] = [
                (tasks.chaos_record, (url, LOG, s), {}, JobOptions()) for q, s in batch if q == name
            ]
            jobs += queues[name].enqueue_many(calls)
    assert not todo, "the schedule left jobs unenqueued"
    return jobs


@pytest.mark.chaos
def test_kill9_storm_loses_nothing_duplicates_nothing_and_keeps_the_cap(
    conn: Connection,
    redis_url: str,
    pools: Callable[..., Any],
    wait_until: Callable[..., Any],
    chaos_figures: dict[str, Any],
) -> None:
    seed = int(os.environ.get("RQUEUES_CHAOS_SEED") or random.randrange(1 << 30))
    print(f"\n[chaos] storm seed {seed} (set RQUEUES_CHAOS_SEED to replay the same plan)")
    rng = random.Random(seed)
    Queue("capped", conn).declare(concurrency=CAP, max_reclaims=50)
    Queue("free", conn).declare(max_reclaims=50)
    pool = pools(
        redis_url, conn, WORKERS, "--concurrency", "4", "--dead-after", str(DEAD_AFTER),
        restart=True, max_restarts=KILLS + 2,
    )  # fmt: skip
    plan = plan_jobs(rng)

    jobs = run_storm(conn, redis_url, pool, rng, plan)
    deadline = time.monotonic() + 60
    for job in jobs:
        job.wait(timeout=max(0.1, deadline - time.monotonic()))
    # The pool cleans up after the dead by itself: their registry entries and consumers go.
    wait_until(
        lambda: {w.decode() for w in conn.redis.zrange(conn.keys.workers, 0, -1)} <= pool.live_ids(),
        timeout=15,
        what="dead workers to leave the registry",
    )
    reaper_stats = conn.redis.hgetall(conn.keys.reaper)
    released = release_times(conn, "capped")
    pool.stop()
    left = leaks(conn, ["capped", "free"])
    dead_letters = sum(conn.redis.xlen(conn.keys.queue(q).dead) for q in ("capped", "free"))

    runs = timeline.parse(conn.redis.lrange(LOG, 0, -1))
    per_job = timeline.by_job(runs)
    records = {job.id: job.record() for job in jobs}
    assert pool.restarts == KILLS == len(pool.kills), pool.tail()
    killed_exits = [code for _, code in pool.exits() if code == -9]
    assert len(killed_exits) == KILLS, pool.exits()

    # Every job succeeded, ran at least once to its end, and never more often than
    # its reclaims allow; the attempt numbers its runs saw are distinct and counted.
    problems = []
    for job_id, rec in records.items():
        mine = per_job.get(job_id, [])
        attempts_seen = sorted(r.attempt for r in mine)
        if rec.state != "succeeded" or rec.result != job_id:
            problems.append(f"{job_id}: {rec.state} {rec.error}")
        elif not any(r.end is not None for r in mine):
            problems.append(f"{job_id}: succeeded but no run reached its end")
        elif len(mine) > 1 + rec.reclaims:
            problems.append(f"{job_id}: {len(mine)} runs but {rec.reclaims} reclaims")
        elif len(set(attempts_seen)) != len(attempts_seen) or attempts_seen[-1] > rec.attempts:
            problems.append(f"{job_id}: attempts {attempts_seen} logged, record says {rec.attempts}")
        elif rec.attempts > 1 + rec.reclaims:
            problems.append(f"{job_id}: {rec.attempts} attempts but {rec.reclaims} reclaims")
    assert not problems, "\n".join(problems[:20])

    # A run with no end belongs to a killed process; it stopped running when it was killed.
    unexplained = [r for r in runs if r.end is None and r.pid not in pool.kills]
    assert not unexplained, f"runs that stopped without a kill: {unexplained[:5]}"

    kills: dict[int, float] = pool.kills

    def at_kill(run: timeline.Run) -> float:
        return kills[run.pid]

    def at_release(run: timeline.Run) -> float:
        later = [t for t in released.get(run.job, []) if t >= run.start - 0.001]
        assert later, f"no lease release found for killed run {run}"
        return min(later)

    # No job ran twice at the same time (a killed run ends at its kill).
    twice_at_once = timeline.self_overlaps(runs, at_kill)
    assert twice_at_once == [], f"jobs that ran twice at the same time: {twice_at_once}"

    # The cap. Each run's logged interval lies inside the interval its lease was held
    # (the job logs 'start' after its lease was taken and 'end' before it is released).
    # A killed run has a start and no end: it really stopped running at the kill, so
    # ending it there reconstructs what ran. The strict reading ends it only when its
    # lease was given back (the 'released' event the reaper's give-back adds to the
    # capped queue's events stream); that only lengthens intervals, so rqueues' own
    # record can make this check fail, never hide a breach.
    capped_ids = {job.id for job in jobs if job.queue == "capped"}
    capped_runs = [r for r in runs if r.job in capped_ids]
    ran, ran_at = timeline.max_overlap(timeline.intervals(capped_runs, at_kill))
    held, held_at = timeline.max_overlap(timeline.intervals(capped_runs, at_release))
    assert ran <= CAP, f"{ran} capped jobs ran at once at {ran_at}"
    assert held <= CAP, f"{held} capped jobs held leases at once at {held_at}"

    # Nothing lost: every job a killed worker held ran again elsewhere.
    recovery, never = timeline.recovery_times(runs, pool.kills)
    assert never == [], f"jobs of killed workers that never ran again: {never}"
    assert recovery, "no kill interrupted a running job: the storm tested nothing"

    assert dead_letters == 0
    assert all(v == 0 for v in left.values()), left

    starts = {job_id: len(mine) for job_id, mine in per_job.items()}
    ends = {job_id: sum(1 for r in mine if r.end is not None) for job_id, mine in per_job.items()}
    report(
        chaos_figures,
        "storm",
        {
            "seed": seed,
            "jobs": len(jobs),
            "kills": KILLS,
            "dead_after_s": DEAD_AFTER,
            "runs": len(runs),
            "interrupted_runs": sum(1 for r in runs if r.end is None),
            "jobs_run_again_after_a_kill": len(recovery),
            "death_to_running_again_s": timeline.summary(recovery),
            "extra_runs_total": sum(n - 1 for n in starts.values()),
            "extra_runs_beyond_reclaims": sum(max(0, starts[j] - 1 - records[j].reclaims) for j in starts),
            "jobs_completed_twice": sum(1 for n in ends.values() if n > 1),
            "jobs_run_twice_at_once": len(twice_at_once),
            "reclaims_total": sum(rec.reclaims for rec in records.values()),
            "reaper_reclaimed_total": int(reaper_stats.get(b"reclaimed", 0)),
            "capped_max_running": ran,
            "capped_max_leases_held": held,
            "dead_letters": dead_letters,
            "leaks": left,
        },
    )
