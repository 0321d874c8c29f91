"""A job that kills its worker every time ends in the dead letters; the pool keeps serving meanwhile."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any

import pytest
import tasks
import timeline
from chaos_checks import leaks, report

from rqueues import Connection, JobFailed, Queue
from rqueues.observe.listing import list_dead

MAX_RECLAIMS = 2
LOG = "chaos:poison:runs"


@pytest.mark.chaos
def test_a_job_that_kills_its_worker_is_dead_lettered_after_max_reclaims_while_the_pool_serves(
    conn: Connection,
    redis_url: str,
    pools: Callable[..., Any],
    chaos_figures: dict[str, Any],
) -> None:
    Queue("poison", conn).declare(max_reclaims=MAX_RECLAIMS)
    other = Queue("other", conn)
    other.declare(max_reclaims=10)  # a normal job may share a worker with the poison
    args = ("--concurrency", "2", "--dead-after", "2")
    pool = pools(redis_url, conn, 2, *args, restart=True, max_restarts=MAX_RECLAIMS + 3)
    poison = Queue("poison", conn).enqueue(tasks.kill_own_worker, redis_url, LOG)

    # Meanwhile a steady trickle of normal jobs, until the poison is settled.
    normal = []
    settled = threading.Event()

    def produce() -> None:
        for _ in range(150):  # bounded: 30 s at most
            normal.append(other.enqueue(tasks.chaos_record, redis_url, LOG, 0.05))
            if settled.wait(0.2):
                return

    producer = threading.Thread(target=produce, daemon=True)
    producer.start()
    try:
        with pytest.raises(JobFailed, match="max_reclaims") as failed:
            poison.wait(timeout=60)
    finally:
        settled.set()
        producer.join(5)
    for job in normal:
        assert job.wait(timeout=30) == job.id

    rec = poison.record()
    assert rec.state == "dead" and rec.reclaims == MAX_RECLAIMS + 1, rec
    assert rec.reason is not None and "died" in rec.reason, rec.reason
    assert f"reclaimed {MAX_RECLAIMS + 1} times (max_reclaims {MAX_RECLAIMS})" in rec.reason
    assert [e["type"] for e in rec.errors] == ["WorkerLost"] * (MAX_RECLAIMS + 1), rec.errors
    dead = list_dead(conn, ["poison"])
    assert [(d.job_id, d.reason) for d in dead] == [(poison.id, rec.reason)]
    cli = subprocess.run(
        [sys.executable, "-m", "rqueues.cli", "dead", "poison", "--json", "--redis-url", redis_url],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    assert [(d["id"], d["reason"]) for d in json.loads(cli.stdout)] == [(poison.id, rec.reason)]

    runs = timeline.parse(conn.redis.lrange(LOG, 0, -1))
    poison_runs = [r for r in runs if r.job == poison.id]
    # Each run killed a different worker process, and the pool replaced each one.
    assert len(poison_runs) == MAX_RECLAIMS + 1 and all(r.end is None for r in poison_runs), poison_runs
    assert len({r.pid for r in poison_runs}) == len(poison_runs)
    assert pool.restarts == len(poison_runs), pool.tail()
    assert sorted(code for _, code in pool.exits()) == [-9] * len(poison_runs)
    # The pool served other jobs between the poison's first run and its dead-lettering.
    assert rec.finished_at is not None
    served = [r for r in runs if r.job != poison.id and poison_runs[0].start < r.start < rec.finished_at]
    assert served, "no other job ran while the poison job was being retried"

    pool.stop()
    left = leaks(conn, ["poison", "other"])
    assert all(v == 0 for v in left.values()), left
    assert conn.redis.xlen(conn.keys.queue("other").dead) == 0
    report(
        chaos_figures,
        "poison",
        {
            "max_reclaims": MAX_RECLAIMS,
            "poison_runs": len(poison_runs),
            "workers_killed_by_it": len(poison_runs),
            "first_run_to_dead_letter_s": round(rec.finished_at - poison_runs[0].start, 3),
            "other_jobs_served_meanwhile": len({r.job for r in served}),
            "other_jobs_total": len(normal),
            "failure": str(failed.value).splitlines()[0],
            "leaks": left,
        },
    )
