"""GPU slots with fake device ids: each job of a gpus_per_job queue gets devices of its own.

Every job logs "start|end JOB DEVICES PID" to a Redis list (reporting_jobs.gpu_record):
the order of that list is an independent record of which devices each job saw and
which jobs ran at once. A job logs its end before its worker frees its devices, and
its start after it got them, so two jobs holding one device at once show in the list
as a start on a device whose previous holder has not logged its end.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from typing import Any

import pytest
import reporting_jobs
from click.testing import Result

from rqueues import Connection, Job, Queue, Worker
from rqueues.observe.snapshot import read_snapshot
from rqueues.observe.top import render, running_jobs

IMPORTS = ["tasks", "reporting_jobs"]


def declare(conn: Connection, name: str, gpus_per_job: int, share: bool = False, **settings: Any) -> Queue:
    """Declare a queue with its GPU needs, as `rqueues declare --gpus-per-job` does."""
    q = Queue(name, conn)
    q.declare(gpus_per_job=gpus_per_job, gpu_share=share, **settings)
    return q


def runs(conn: Connection, log_key: str) -> list[tuple[str, str, tuple[str, ...]]]:
    """The log as (event, job id, devices)."""
    out = []
    for line in conn.redis.lrange(log_key, 0, -1):
        event, job, devices, _ = line.decode().split()
        out.append((event, job, tuple(devices.split(",")) if devices != "-" else ()))
    return out


def check_exclusive(conn: Connection, log_key: str, worker_of: dict[str, str]) -> int:
    """Assert no device of a worker was held by two jobs at once; the most jobs that ran at once."""
    active: dict[tuple[str, str], str] = {}
    running, most = 0, 0
    for event, job, devices in runs(conn, log_key):
        worker = worker_of[job]
        for d in devices:
            if event == "start":
                assert (worker, d) not in active, (
                    f"{job} got GPU {d} of {worker} held by {active[(worker, d)]}"
                )
                active[(worker, d)] = job
            else:
                del active[(worker, d)]
        running += 1 if event == "start" else -1
        most = max(most, running)
    return most


def test_jobs_under_a_cap_on_two_workers_never_share_a_device(
    conn: Connection, redis_url: str, start_worker: Callable[..., Worker]
) -> None:
    q = declare(conn, "train", gpus_per_job=1, concurrency=4, tags=["gpu"])
    a = start_worker(imports=IMPORTS, gpus="0,1,2", concurrency=6, worker_id="w-a")
    b = start_worker(imports=IMPORTS, gpus=["0", "1"], concurrency=6, worker_id="w-b")
    assert {"gpu", "gpus=3"} <= a.tags and {"gpu", "gpus=2"} <= b.tags
    jobs = q.enqueue_many([(reporting_jobs.gpu_record, (redis_url, "gpu:log", "", 0.05), {})] * 16)
    seen = [j.wait(timeout=60) for j in jobs]
    assert all(s != "-" and len(s.split(",")) == 1 for s in seen)  # one device each

    records = {j.id: j.record() for j in jobs}
    worker_of = {i: r.worker or "" for i, r in records.items()}
    assert check_exclusive(conn, "gpu:log", worker_of) <= 4  # the queue's cap holds too
    by_worker = {w: {d for i, r in records.items() if r.worker == w for d in r.gpus} for w in ("w-a", "w-b")}
    assert by_worker["w-a"] <= {"0", "1", "2"} and by_worker["w-b"] <= {"0", "1"}
    logged = {job: devices for event, job, devices in runs(conn, "gpu:log") if event == "start"}
    assert all(logged[i] == r.gpus for i, r in records.items())  # what the job saw is what was recorded


def test_a_worker_claims_no_more_jobs_than_its_free_devices_can_take(
    conn: Connection, redis_url: str, start_worker: Callable[..., Worker], wait_until: Callable[..., Any]
) -> None:
    q = declare(conn, "train", gpus_per_job=2)
    # Refreshed only every minute: the next job starts because the job that freed the devices
    # woke the dispatcher, blocked in Redis, not because a timeout ended its wait.
    worker = start_worker(imports=IMPORTS, gpus="0,1,2", concurrency=4, refresh_seconds=60)
    jobs = q.enqueue_many([(reporting_jobs.gpu_record, (redis_url, "gpu:log", "gpu:gate"), {})] * 3)
    for started in range(1, 4):
        logged = 2 * started - 1  # each job before it logged its start and its end
        wait_until(lambda n=logged: conn.redis.llen("gpu:log") == n, what=f"job {started} to start")
        # Running: one job (two of the three devices); the others wait in Redis, unclaimed.
        running = [j for held in worker.held.snapshot().values() for j in held if not j.done]
        assert len(running) == 1 and [j.state for j in jobs].count("queued") == 3 - started
        holders = worker.gpus.holders()
        assert sorted(d for d, held in holders.items() if held) in (["0", "1"], ["1", "2"], ["0", "2"])
        conn.redis.rpush("gpu:gate", "go")
    assert [len(j.wait(timeout=30).split(",")) for j in jobs] == [2, 2, 2]
    assert check_exclusive(conn, "gpu:log", {j.id: "w" for j in jobs}) == 1


def test_jobs_of_a_sharing_queue_run_together_on_one_device(
    conn: Connection, redis_url: str, start_worker: Callable[..., Worker], wait_until: Callable[..., Any]
) -> None:
    q = declare(conn, "infer", gpus_per_job=1, share=True)
    start_worker(imports=IMPORTS, gpus="0", concurrency=3)
    jobs = q.enqueue_many([(reporting_jobs.gpu_record, (redis_url, "gpu:log", "gpu:gate"), {})] * 3)
    wait_until(lambda: len(conn.redis.lrange("gpu:log", 0, -1)) == 3, what="three jobs to run at once")
    assert [devices for _, _, devices in runs(conn, "gpu:log")] == [("0",)] * 3
    conn.redis.rpush("gpu:gate", "go", "go", "go")
    assert [j.wait(timeout=30) for j in jobs] == ["0"] * 3


def test_a_worker_without_gpus_never_claims_from_a_gpu_queue_and_warns_once(
    conn: Connection, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    q = declare(conn, "train", gpus_per_job=1)
    plain = Queue("plain", conn)
    plain.declare()
    job = q.enqueue(reporting_jobs.gpu_record, redis_url, "gpu:log")
    other = plain.enqueue(reporting_jobs.gpu_record, redis_url, "gpu:log")
    worker = Worker(conn, imports=IMPORTS, worker_id="w-cpu", reaper=False)
    assert not {t for t in worker.tags if t.startswith("gpu")}
    caplog.set_level(logging.WARNING, logger="rqueues.worker")
    worker.refresh()
    assert set(worker.queues) == {"plain", "train"}  # untagged: routing alone would let it take both
    assert worker.dispatcher.claim_once().claimed == 1  # only the plain job
    assert worker.dispatcher.claim_once().claimed == 0
    assert job.state == "queued" and other.state == "running"
    warnings = [r.getMessage() for r in caplog.records if "GPU(s) per job" in r.getMessage()]
    assert len(warnings) == 1 and "queue 'train' needs 1 GPU(s) per job and this worker has 0" in warnings[0]


def test_auto_gpus_from_cuda_visible_devices_route_record_and_show_which_job_holds_which_device(
    conn: Connection,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
    worker_process: Callable[..., Any],
    wait_until: Callable[..., Any],
    cli: Callable[..., Result],
) -> None:
    q = declare(conn, "train", gpus_per_job=2, tags=["gpus=2"])  # only a worker with 2 GPUs matches
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "5,7")
    proc = worker_process("--gpus", "auto", "--import", "reporting_jobs")
    assert "--gpus auto: 2 GPU(s) from CUDA_VISIBLE_DEVICES: 5,7" in proc.output()
    job = q.enqueue(reporting_jobs.gpu_record, redis_url, "gpu:log", "gpu:gate")

    def registry() -> Any:
        [w] = json.loads(cli("workers", "--json").output)
        return w.get("gpus") if w.get("gpus", {}).get("5") else None

    assert wait_until(registry, what="the registry to show the job's devices") == {
        "5": [job.id],
        "7": [job.id],
    }
    table = cli("workers").output
    assert "GPUS" in table and f"5:{job.id},7:{job.id}" in table
    wait_until(lambda: Job(job.id, "train", conn).record().gpus, what="the devices in the job's record")
    assert "gpus: 5,7" in cli("job", job.id).output
    snap = read_snapshot(conn)
    assert f"5:{job.id},7:{job.id}" in render(snap, {}, running_jobs(conn, snap))

    conn.redis.rpush("gpu:gate", "go")
    assert job.wait(timeout=30) == "5,7"
    assert runs(conn, "gpu:log")[0] == ("start", job.id, ("5", "7"))
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "5,7"  # the test's own, restored by monkeypatch


def test_bad_gpu_ids_are_a_clear_cli_error(cli: Callable[..., Result]) -> None:
    result = cli("worker", "--gpus", "0,0")
    assert result.exit_code != 0 and "GPU '0' is listed twice" in result.output
    result = cli("worker", "--gpus", "0,a b")
    assert result.exit_code != 0 and "invalid GPU id 'a b'" in result.output
    assert "Traceback" not in result.output


def test_process_children_get_their_devices_in_the_environment_and_report_progress(
    conn: Connection, start_worker: Callable[..., Worker], redis_url: str
) -> None:
    """On the process executor each job's child gets CUDA_VISIBLE_DEVICES of its own devices,
    and progress reported in the child reaches the job's record."""
    q = declare(conn, "gpu-proc", 1, concurrency=2, executor="process")
    start_worker(imports=IMPORTS, gpus="4,5", concurrency=2)
    jobs = [q.enqueue(reporting_jobs.report_in_child, redis_url, "child-log") for _ in range(4)]
    seen = [job.wait(timeout=60) for job in jobs]
    assert set(seen) <= {"4", "5"}  # one device each, exported to the child
    lines = [line.decode().split() for line in conn.redis.lrange("child-log", 0, -1)]
    assert len(lines) == 4
    for _job_id, pid, env, gpus in lines:
        assert int(pid) != os.getpid() and env == gpus  # the env matches current_job().gpus
    for job in jobs:
        progress = job.progress
        assert progress is not None and progress.fraction == 0.75 and progress.message == "from the child"
