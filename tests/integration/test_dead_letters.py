"""Dead letters: `rqueues dead`, `rqueues requeue JOB_ID` and `rqueues requeue --queue Q --all`."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import tasks
from click.testing import CliRunner, Result

from rqueues import Connection, Job, Queue, RetryPolicy
from rqueues.backend.keys import GROUP
from rqueues.backend.replies import ClaimKind
from rqueues.cli import main
from rqueues.worker.reaper import Reaper


@pytest.fixture
def cli(conn: Connection, redis_url: str) -> Callable[..., Result]:
    def run(*args: str, code: int = 0) -> Result:
        result = CliRunner().invoke(main, [args[0], "--redis-url", redis_url, *args[1:]])
        assert result.exit_code == code, result.output
        assert "Traceback" not in result.output
        return result

    return run


def kill_jobs(conn: Connection, queue: str, jobs: list[Job]) -> None:
    """Dead-letter ``jobs``: claim (and so start) them as a worker that never beats, then reap
    (max_reclaims 0)."""
    keys = conn.keys.queue(queue)
    reply = conn.scripts.claim(keys, "w-crashed", len(jobs), 60_000)
    assert reply.kind == ClaimKind.CLAIMED
    assert Reaper(conn).reap_once().dead_lettered == len(jobs)


@pytest.fixture
def dead_jobs(conn: Connection) -> list[Job]:
    """Two dead letters in 'default' and one in 'other'."""
    found = []
    for name, count in (("default", 2), ("other", 1)):
        q = Queue(name, conn)
        q.declare(max_reclaims=0)
        jobs = [q.enqueue(tasks.add, i, 10) for i in range(count)]
        kill_jobs(conn, name, jobs)
        found += jobs
    return found


def test_dead_lists_dead_letters_with_the_reason(
    conn: Connection, cli: Callable[..., Result], dead_jobs: list[Job]
) -> None:
    rows = json.loads(cli("dead", "--json").stdout)
    assert sorted(r["id"] for r in rows) == sorted(j.id for j in dead_jobs)
    reason = "worker w-crashed died (not registered); reclaimed 1 times (max_reclaims 0)"
    for row in rows:
        assert set(row) == {"queue", "id", "entry", "function", "dead_at", "reason"}
        assert row["reason"] == reason
        assert row["function"] == Job.fetch(row["id"], conn).record().function == "tasks:add"
        assert row["dead_at"].endswith("+00:00")

    only = json.loads(cli("dead", "other", "--json").stdout)
    assert [(r["queue"], r["id"]) for r in only] == [("other", dead_jobs[2].id)]
    both = json.loads(cli("dead", "default", "other", "--json").stdout)
    assert len(both) == 3

    table = cli("dead", "default").stdout.splitlines()
    assert table[0].split() == ["QUEUE", "ID", "FUNCTION", "DEAD_AT", "REASON"]
    assert len(table) == 3 and all(reason in line for line in table[1:])


def test_dead_with_nothing_dead_prints_an_empty_list(conn: Connection, cli: Callable[..., Result]) -> None:
    Queue("default", conn).declare()
    assert json.loads(cli("dead", "--json").stdout) == []


def test_requeue_keeps_the_id_and_history_and_the_job_runs(
    conn: Connection, cli: Callable[..., Result], dead_jobs: list[Job], quick_worker: Callable[..., Any]
) -> None:
    job = dead_jobs[1]
    keys = conn.keys.queue("default")
    out = cli("requeue", job.id).stdout
    assert "requeued 1 job(s)" in out

    rec = job.record()
    assert (rec.state, rec.attempts, rec.reason) == ("queued", 1, None)
    assert [(e["attempt"], e["type"]) for e in rec.errors] == [(1, "WorkerLost")]  # history kept
    assert conn.redis.ttl(keys.job(job.id)) == -1
    assert [r["id"] for r in json.loads(cli("dead", "default", "--json").stdout)] == [dead_jobs[0].id]

    quick_worker()
    assert job.wait(timeout=15) == 11  # tasks.add(1, 10)
    rec = job.record()
    assert (rec.id, rec.state, rec.attempts) == (job.id, "succeeded", 2)
    assert [e["type"] for e in rec.errors] == ["WorkerLost"]
    assert dead_jobs[0].state == "dead"  # requeuing one leaves the others alone


def test_requeue_all_of_a_queue(
    conn: Connection, cli: Callable[..., Result], dead_jobs: list[Job], quick_worker: Callable[..., Any]
) -> None:
    assert "requeued 2 job(s)" in cli("requeue", "--queue", "default", "--all").stdout
    assert json.loads(cli("dead", "default", "--json").stdout) == []
    assert dead_jobs[2].state == "dead"  # another queue's dead letters stay
    quick_worker()
    assert [j.wait(timeout=15) for j in dead_jobs[:2]] == [10, 11]
    assert "requeued 0 job(s)" in cli("requeue", "--queue", "default", "--all").stdout


def test_requeue_of_a_failed_job_runs_it_again(
    conn: Connection, cli: Callable[..., Result], quick_worker: Callable[..., Any]
) -> None:
    q = Queue("default", conn)
    q.declare(retry=RetryPolicy(retries=0))
    quick_worker()
    job = q.enqueue(tasks.fail_first)
    with pytest.raises(Exception, match="first attempt fails"):
        job.wait(timeout=15)
    cli("requeue", job.id)
    assert job.wait(timeout=15) == 2
    assert [e["message"] for e in job.record().errors] == ["first attempt fails"]


def test_requeue_refuses_a_job_that_is_not_dead_or_failed(
    conn: Connection, cli: Callable[..., Result], quick_worker: Callable[..., Any]
) -> None:
    q = Queue("default", conn)
    q.declare()
    quick_worker()
    job = q.enqueue(tasks.add, 1, 1)
    assert job.wait(timeout=15) == 2

    result = cli("requeue", job.id, code=1)
    assert f"job {job.id} is succeeded, not dead or failed: not requeued" in result.stderr
    assert "requeued" not in result.stdout  # said once, on stderr
    rec = job.record()
    assert (rec.state, rec.attempts) == ("succeeded", 1)
    assert conn.redis.xlen(conn.keys.queue("default").stream) == 0  # nothing was queued
    assert conn.redis.xpending(conn.keys.queue("default").stream, GROUP)["pending"] == 0


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        ([], "name a JOB_ID, or --queue Q --all"),
        (["--all"], "use either JOB_ID or --queue Q --all"),
        (["some-id", "--queue", "default", "--all"], "use either JOB_ID or --queue Q --all"),
        (["no-such-job"], "no job 'no-such-job'"),
    ],
)
def test_requeue_usage_errors_are_clear(
    conn: Connection, cli: Callable[..., Result], args: list[str], needle: str
) -> None:
    Queue("default", conn).declare()
    result = cli("requeue", *args, code=1)
    assert needle in result.output
