"""Redis (AOF, appendfsync everysec) killed -9 and restarted in the middle of a run."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import tasks
import timeline
from chaos_checks import leaks, report

from rqueues import Queue, connect
from rqueues.errors import RedisUnavailable
from rqueues.quickstart.embedded import EmbeddedServer

CAP = 2
SECONDS = 0.4
BEFORE, AFTER = 16, 6  # jobs enqueued before the kill, and after the restart
DEAD_AFTER = 2.0
# Redis stays dead for longer than the reaper's threshold: once it is back every
# heartbeat looks stale, and reaping before the workers beat again would take
# jobs from live workers.
DOWN = DEAD_AFTER + 1.0


@pytest.mark.chaos
def test_redis_killed_and_restarted_mid_run_loses_no_enqueued_job_and_keeps_the_cap(
    aof_server: EmbeddedServer,
    tmp_path: Path,
    pools: Callable[..., Any],
    wait_until: Callable[..., Any],
    chaos_figures: dict[str, Any],
) -> None:
    conn = connect(aof_server.url)
    log = tmp_path / "runs.log"  # a file: the record must survive the Redis the test kills
    q = Queue("aof", conn)
    q.declare(concurrency=CAP, max_reclaims=10)
    pool = pools(aof_server.url, conn, 2, "--concurrency", "3", "--dead-after", str(DEAD_AFTER), restart=True)
    before = q.enqueue_many([(tasks.chaos_record_file, (str(log), SECONDS), {}) for _ in range(BEFORE)])
    enqueued_at = time.monotonic()

    def lines() -> list[str]:
        return log.read_text().splitlines() if log.exists() else []

    # Kill while jobs run, with work still waiting: after a few jobs have ended, while
    # one that started less than 0.2 s ago runs. AOF everysec fsyncs once a second; a
    # kill -9 of the process alone loses nothing Redis wrote to the file, but waiting
    # out one fsync period since the last enqueue returned makes the check hold even
    # against the lost second the setting allows.
    def moment() -> bool:
        runs = timeline.parse(lines())
        young = [r for r in runs if r.end is None and time.time() - r.start < 0.2]
        ended = sum(1 for r in runs if r.end is not None)
        return ended >= 4 and bool(young) and time.monotonic() - enqueued_at >= 1.1

    wait_until(moment, what="a job to be running 1.1 s after the last enqueue")
    killed_at = time.time()
    aof_server.kill()
    with pytest.raises(RedisUnavailable, match="cannot reach Redis"):
        Queue("aof", connect(aof_server.url)).enqueue(tasks.noop)
    time.sleep(DOWN)  # the outage itself
    aof_server.start()
    restarted_at = time.time()

    after = q.enqueue_many([(tasks.chaos_record_file, (str(log), SECONDS), {}) for _ in range(AFTER)])
    deadline = time.monotonic() + 60
    for job in before + after:
        job.wait(timeout=max(0.1, deadline - time.monotonic()))
    pool.stop()

    runs = timeline.parse(lines())
    per_job = timeline.by_job(runs)
    records = {job.id: job.record() for job in before + after}
    assert all(rec.state == "succeeded" for rec in records.values()), records
    assert pool.restarts == 0 and all(code == 0 for _, code in pool.exits()), pool.tail()
    # Each worker says once that Redis went away, and once that it came back.
    for spawn in pool.spawns:
        said = pool.output(spawn.worker_id)
        assert said.count("lost Redis at") == 1 and said.count("reconnected to Redis") == 1, said
    assert any(r.start > restarted_at for r in runs), "no job ran after the restart"
    running_at_kill = sum(1 for r in runs if r.end is not None and r.start < killed_at < r.end)
    assert running_at_kill >= 1, "the kill landed between jobs"

    # Every worker lived throughout: every run ended, and no job was reclaimed or ran twice.
    assert all(r.end is not None for r in runs), runs
    extra = {j: len(mine) - 1 for j, mine in per_job.items() if len(mine) > 1}
    reclaimed = {j: rec.reclaims for j, rec in records.items() if rec.reclaims}
    assert extra == {} and reclaimed == {}, (extra, reclaimed)

    ran, ran_at = timeline.max_overlap(timeline.intervals(runs, lambda r: 0.0))
    assert ran <= CAP, f"{ran} jobs ran at once at {ran_at}"
    left = leaks(conn, ["aof"])
    assert all(v == 0 for v in left.values()), left
    report(
        chaos_figures,
        "redis_restart",
        {
            "jobs_before_kill": BEFORE,
            "jobs_after_restart": AFTER,
            "running_at_kill": running_at_kill,
            "redis_down_s": round(restarted_at - killed_at, 3),
            "runs": len(runs),
            "extra_runs": sum(extra.values()),
            "max_running": ran,
            "leaks": left,
        },
    )
    conn.close()
