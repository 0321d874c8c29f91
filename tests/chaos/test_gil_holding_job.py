"""A job that holds the GIL in C code for several times dead_after: on the process executor its
worker heartbeats on (the job holds its child's GIL, not the worker's) and no reaper takes it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import tasks
from chaos_checks import leaks, report

from rqueues import Connection, Queue

DEAD_AFTER = 2.0
SECONDS = 8.0  # four times DEAD_AFTER, in one call that never releases the GIL


def run_gil_job(conn: Connection, redis_url: str, pools: Callable[..., Any], executor: str) -> Any:
    q = Queue("gil", conn)
    q.declare(executor=executor, max_reclaims=0)  # a reclaim dead-letters it: nothing runs twice
    # The reapers consume another queue only: they judge the runner, they never run its job.
    runner = pools(redis_url, conn, 1, "--concurrency", "1", "--queues", "gil", "--no-reaper")
    pools(redis_url, conn, 1, "--queues", "elsewhere", "--dead-after", str(DEAD_AFTER))
    job = q.enqueue(tasks.hold_gil, SECONDS)
    return runner, job


@pytest.mark.chaos
@pytest.mark.slow
def test_a_gil_holding_job_in_a_child_does_not_make_its_worker_look_dead(
    conn: Connection, redis_url: str, pools: Callable[..., Any], chaos_figures: dict[str, Any]
) -> None:
    runner, job = run_gil_job(conn, redis_url, pools, "process")
    pid = job.wait(timeout=SECONDS + 60)
    rec = job.record()
    assert (rec.state, rec.attempts, rec.reclaims) == ("succeeded", 1, 0)
    assert pid != runner.current[0].process.pid  # it ran in a child
    assert rec.worker == runner.current[0].worker_id
    assert rec.finished_at is not None and rec.started_at is not None
    held = rec.finished_at - rec.started_at
    assert held > 2 * DEAD_AFTER  # it did hold the GIL long enough to matter
    assert int(conn.redis.hget(conn.keys.reaper, "reclaimed") or 0) == 0
    runner.stop()
    assert "expired before renewal" not in runner.output(runner.current[0].worker_id)
    left = leaks(conn, ["gil"])
    left.pop("registered_workers")  # the reaper still runs
    assert all(v == 0 for v in left.values()), left
    report(chaos_figures, "gil_holding_child", {"dead_after_s": DEAD_AFTER, "held_s": round(held, 3)})


@pytest.mark.chaos
@pytest.mark.slow
def test_the_same_job_on_the_thread_executor_does_make_its_worker_look_dead(
    conn: Connection, redis_url: str, pools: Callable[..., Any], wait_until: Callable[..., Any]
) -> None:
    """The control: without the child, the worker's heartbeat stops and the reaper takes the job."""
    _, job = run_gil_job(conn, redis_url, pools, "thread")
    wait_until(lambda: job.record().state == "dead", timeout=SECONDS + 30, what="the reaper to take the job")
    assert "reclaims" in (job.record().reason or "")
