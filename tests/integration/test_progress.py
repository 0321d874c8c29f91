"""Job progress: current_job().progress() from job code, written to the record by the worker.

A report costs no round trip: the job keeps its latest report in memory, the
heartbeat writes what changed once a beat, the acker writes the last one before
the outcome. Writes are fenced (a delivery taken from the worker is never
written) and best-effort (refused while Redis is out of memory, outcomes never
held up).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import reporting_jobs
import tasks
from click.testing import Result

from rqueues import Connection, JobFailed, Queue, Worker
from rqueues.backend import scripts
from rqueues.backend.replies import ClaimKind
from rqueues.codec import encode_result
from rqueues.worker.execution import Claimed, Outcome
from rqueues.worker.reaper import Reaper

FAST = {"heartbeat_seconds": 0.2, "imports": ["tasks", "reporting_jobs"]}


def held(worker: Worker) -> list[Claimed]:
    return [job for jobs in worker.held.snapshot().values() for job in jobs]


def progress_fields(conn: Connection, queue: str, job_id: str) -> dict[bytes, bytes]:
    raw = conn.redis.hgetall(conn.keys.queue(queue).job(job_id))
    return {k: v for k, v in raw.items() if k.startswith(b"progress")}


def test_progress_shows_while_the_job_runs_and_the_last_report_is_kept_when_it_ends(
    conn: Connection,
    q: Queue,
    redis_url: str,
    start_worker: Callable[..., Worker],
    wait_until: Callable[..., Any],
    cli: Callable[..., Result],
) -> None:
    start_worker(**FAST)
    job = q.enqueue(reporting_jobs.progress_gated, redis_url, "gate")
    running = wait_until(lambda: job.progress, what="the first progress report in the record")
    assert (running.fraction, running.message, running.attempt) == (0.5, "half way", 1)
    assert running.at is not None and job.state == "running"

    shown = cli("job", job.id)
    assert shown.exit_code == 0, shown.output
    assert "progress: 50% half way (at " in shown.output
    listed = cli("jobs", "--state", "running")
    assert listed.exit_code == 0 and "PROGRESS" in listed.output and "50% half way" in listed.output
    as_json = json.loads(cli("jobs", "--state", "running", "--json").output)
    assert as_json[0]["progress"]["fraction"] == 0.5 and as_json[0]["progress"]["message"] == "half way"

    conn.redis.rpush("gate", "go")
    assert job.wait(timeout=10) == job.id
    final = job.progress
    assert final is not None and (final.fraction, final.message) == (1.0, "done")
    rec = job.record()
    assert rec.state == "succeeded" and rec.progress == final
    assert "100% done" in cli("jobs", "--state", "succeeded").output


def test_thousands_of_reports_cost_no_round_trip_each_and_the_last_one_stays(
    conn: Connection, q: Queue, start_worker: Callable[..., Worker]
) -> None:
    start_worker(**FAST)
    before = int(conn.redis.info("stats")["total_commands_processed"])
    job = q.enqueue(reporting_jobs.progress_many, 20_000)
    assert job.wait(timeout=20) == 20_000
    after = int(conn.redis.info("stats")["total_commands_processed"])
    assert after - before < 2_000  # heartbeats, claims and waits; not one per report
    final = job.progress
    assert final is not None and (final.fraction, final.message) == (1.0, "step 20000 of 20000")


def test_a_bad_fraction_fails_the_job_with_an_error_naming_it(
    q: Queue, start_worker: Callable[..., Worker]
) -> None:
    start_worker(**FAST)
    job = q.enqueue(reporting_jobs.progress_invalid, 1.5)
    with pytest.raises(JobFailed) as info:
        job.wait(timeout=10)
    assert info.value.exc_type == "ValueError" and "from 0 to 1" in info.value.message
    assert job.progress is None


# -- fencing: driven by hand, as in test_fencing.py --------------------------------------


@pytest.fixture
def paused(conn: Connection) -> Worker:
    """A worker whose threads never run: the test calls its heartbeat and acker itself."""
    worker = Worker(conn, imports=["tasks"], worker_id="w-paused", reaper=False, lease_seconds=120)
    worker.refresh()
    return worker


def test_the_heartbeat_writes_the_latest_report_once_and_not_again_until_it_changes(
    conn: Connection, q: Queue, paused: Worker
) -> None:
    job = q.enqueue(tasks.noop)
    assert paused.dispatcher.claim_once().claimed == 1
    [claimed] = held(paused)
    claimed.report_progress(0.25, "first")
    claimed.report_progress(0.3, "second")
    paused.heartbeat.beat()
    assert progress_fields(conn, "default", job.id)[b"progress_msg"] == b"second"

    conn.redis.hdel(conn.keys.queue("default").job(job.id), "progress_msg")
    paused.heartbeat.beat()  # nothing new was reported: nothing written
    assert b"progress_msg" not in progress_fields(conn, "default", job.id)
    claimed.report_progress(0.4, "third")
    paused.heartbeat.beat()
    progress = job.progress
    assert progress is not None and (progress.fraction, progress.message) == (0.4, "third")


def test_no_progress_is_written_for_a_delivery_taken_from_the_worker(
    conn: Connection, q: Queue, paused: Worker
) -> None:
    job = q.enqueue(tasks.noop)
    keys = conn.keys.queue("default")
    assert paused.dispatcher.claim_once().claimed == 1
    [old] = held(paused)
    old.report_progress(0.9, "from the old delivery")
    assert Reaper(conn).reap_once().requeued == 1  # w-paused never beat: taken for dead
    reply = conn.scripts.claim(keys, "w-other", 1, 60_000)
    assert reply.kind is ClaimKind.CLAIMED  # attempt 2 runs on w-other

    row = (old.entry, old.job_id, "0.9", "from the old delivery", 0, old.attempts, "")
    assert conn.scripts.run(scripts.progress(keys, "w-paused", [row])) == 0  # the script's own fence
    paused.heartbeat.beat()  # finds the delivery lost; writes nothing for it
    old.done = True
    paused.acker.complete([Outcome(old, "succeeded", encode_result("stale"))])
    assert progress_fields(conn, "default", job.id) == {}
    assert (job.record().state, job.record().attempts) == ("running", 2)


# -- memory pressure ------------------------------------------------------------------


def test_under_oom_progress_is_refused_while_heartbeats_and_outcomes_go_through(oom_conn: Connection) -> None:
    conn = oom_conn
    q = Queue("default", conn)
    q.declare()
    job = q.enqueue(tasks.noop)
    worker = Worker(conn, imports=["tasks"], worker_id="w-oom", reaper=False)
    worker.refresh()
    assert worker.dispatcher.claim_once().claimed == 1
    [claimed] = held(worker)
    claimed.report_progress(0.7, "nearly")
    used = int(conn.redis.info("memory")["used_memory"])
    conn.redis.config_set("maxmemory", max(1, used // 2))
    assert not conn.accepts_writes()

    worker.heartbeat.beat()  # the beat and renewal go through; the progress write is refused
    assert progress_fields(conn, "default", job.id) == {}
    claimed.done = True
    worker.acker.complete([Outcome(claimed, "succeeded", encode_result(7))])  # not held up by it
    assert job.state == "succeeded" and job.result == 7
    assert job.progress is None

    conn.redis.config_set("maxmemory", 0)
