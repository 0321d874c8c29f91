"""Job log lines: start and end at INFO with the job's fields, failures with their traceback, JSON."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
import tasks

from rqueues import Connection, JobFailed, Queue, Worker
from rqueues.logoutput import JsonFormatter
from rqueues.worker.joblog import JobLog


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_json_log_format_gives_one_object_per_job_line(
    conn: Connection, worker_process: Callable[..., Any]
) -> None:
    q = Queue("logged", conn)
    q.declare()
    proc = worker_process("--log-format", "json")
    ok = q.enqueue(tasks.add, 1, 2)
    bad = q.enqueue(tasks.fail, "kaput")
    assert ok.wait(timeout=15) == 3
    with pytest.raises(JobFailed):
        bad.wait(timeout=15)
    assert proc.stop() == 0
    lines = json_lines(proc.output())
    assert lines, proc.output()
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    mine = [line for line in lines if line.get("job_id") == ok.id]
    assert [line.get("outcome") for line in mine] == [None, "succeeded"]
    start, end = mine
    assert (start["level"], start["queue"], start["function"], start["attempt"]) == (
        "INFO", "logged", "tasks:add", 1,
    )  # fmt: skip
    assert end["duration_s"] >= 0
    [failed] = [line for line in lines if line.get("job_id") == bad.id and line.get("outcome")]
    assert (failed["level"], failed["outcome"]) == ("ERROR", "failed")
    assert "kaput" in failed["error"] and "Traceback" in failed["message"]


def test_no_job_logs_keeps_only_failures(conn: Connection, worker_process: Callable[..., Any]) -> None:
    q = Queue("quiet", conn)
    q.declare()
    proc = worker_process("--no-job-logs", "--log-format", "json")
    assert q.enqueue(tasks.add, 2, 2).wait(timeout=15) == 4
    with pytest.raises(JobFailed):
        q.enqueue(tasks.fail).wait(timeout=15)
    proc.stop()
    outcomes = [line["outcome"] for line in json_lines(proc.output()) if "job_id" in line]
    assert outcomes == ["failed"]


def test_the_library_installs_no_handler() -> None:
    code = (
        "import logging, rqueues; from rqueues.worker import Worker; "
        "Worker('redis://127.0.0.1:1/0', reaper=False); "
        "print(len(logging.getLogger().handlers), len(logging.getLogger('rqueues').handlers))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["0", "0"]


def test_a_library_user_gets_the_lines_through_logging(
    conn: Connection, caplog: pytest.LogCaptureFixture
) -> None:
    q = Queue("lib", conn)
    q.declare()
    job = q.enqueue(tasks.add, 3, 4)
    caplog.set_level(logging.INFO, logger="rqueues.jobs")
    Worker(conn, imports=["tasks"], burst=True, reaper=False).run(install_signals=False)
    assert job.result == 7
    records = [r for r in caplog.records if r.name == "rqueues.jobs"]
    assert [getattr(r, "outcome", None) for r in records] == [None, "succeeded"]
    assert json.loads(JsonFormatter().format(records[1]))["job_id"] == job.id


def test_quiet_queues_are_left_out(caplog: pytest.LogCaptureFixture) -> None:
    from rqueues.worker.execution import Claimed, Outcome

    caplog.set_level(logging.INFO, logger="rqueues.jobs")
    log = JobLog(quiet=["hot"])
    for queue in ("hot", "cold"):
        job = Claimed(queue, "1-0", f"id-{queue}", "m:f", b"", 1, {}, 60)
        log.claimed(queue, [job])
        log.stored([Outcome(job, "succeeded")])
    assert sorted({getattr(r, "queue", "") for r in caplog.records}) == ["cold"]
