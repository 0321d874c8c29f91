"""Redis runs out of memory under a busy capped queue, for several lease periods: invariant 8.

`maxmemory` is lowered at runtime below what Redis uses (noeviction), so Redis
refuses writes, then restored. Worker processes with 1 s leases run a queue
capped at 2 whose jobs outlive their lease several times, next to a standalone
`rqueues reaper`. What ran comes from a file the jobs append to (Redis refuses
writes meanwhile), not from rqueues' own bookkeeping.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import tasks
import timeline
from chaos_checks import leaks, report

from rqueues import Connection, Queue, RedisOutOfMemory, connect
from rqueues.quickstart.embedded import EmbeddedServer

CAP = 2
DEAD_AFTER = 2.0
LEASE = 1.0
OOM_SECONDS = 5.0  # five lease periods, and longer than DEAD_AFTER
DURATIONS = [7.0, 2.5, 2.5, 2.5, 2.5, 2.5]  # the first spans the whole outage
LEASE_WORKER = [str(Path(__file__).parent / "lease_worker.py")]


@pytest.fixture
def own_server() -> Iterator[EmbeddedServer]:
    """A private server: this test changes its maxmemory."""
    server = EmbeddedServer().start()
    yield server
    server.cleanup()


@pytest.fixture
def standalone_reaper(own_server: EmbeddedServer, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`rqueues reaper` on its own, the reaper that judged Redis healthy by PING."""
    cmd = [sys.executable, "-m", "rqueues.cli", "reaper", "--redis-url", own_server.url]
    cmd += ["--dead-after", str(DEAD_AFTER), "--interval", "0.5"]
    with open(tmp_path / "reaper.log", "wb") as out:
        process = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=dict(os.environ)
        )
    yield process
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


def refuse_writes(conn: Connection) -> None:
    """Lower maxmemory until Redis refuses writes (a few tries: memory in use moves)."""
    conn.redis.config_set("maxmemory-policy", "noeviction")
    for _ in range(10):
        used = int(conn.redis.info("memory")["used_memory"])
        conn.redis.config_set("maxmemory", max(1, used // 2))
        if not conn.accepts_writes():
            return
    raise AssertionError("Redis still accepts writes")


def lines(path: str) -> list[str]:
    return Path(path).read_text().splitlines() if Path(path).exists() else []


@pytest.mark.chaos
def test_under_oom_the_cap_holds_nothing_runs_twice_nothing_is_lost_and_work_resumes(
    own_server: EmbeddedServer,
    standalone_reaper: subprocess.Popen[bytes],
    pools: Callable[..., Any],
    wait_until: Callable[..., Any],
    tmp_path: Path,
    chaos_figures: dict[str, Any],
) -> None:
    conn = connect(own_server.url)
    log = str(tmp_path / "runs.log")
    q = Queue("capped", conn)
    q.declare(concurrency=CAP)
    flags = ["--concurrency", "2", "--lease-seconds", str(LEASE), "--heartbeat-seconds", "0.25"]
    pool = pools(own_server.url, conn, 2, *flags, "--dead-after", str(DEAD_AFTER), command=LEASE_WORKER)
    jobs = q.enqueue_many([(tasks.chaos_record_file, (log, s), {}) for s in DURATIONS])
    wait_until(lambda: len(lines(log)) >= CAP, timeout=20, what="the cap's worth of jobs to start")

    refuse_writes(conn)
    oom_at = time.time()
    refused = 0
    try:
        while time.time() < oom_at + OOM_SECONDS:  # bounded by the clock; each try is refused at once
            with pytest.raises(RedisOutOfMemory):
                q.enqueue(tasks.noop)
            refused += 1
            time.sleep(0.25)
        assert not conn.accepts_writes(), "Redis accepted writes during the outage"
    finally:
        conn.redis.config_set("maxmemory", 0)
    restored_at = time.time()

    for job in jobs:
        job.wait(timeout=60)
    runs = timeline.parse(lines(log))
    last = max(r.end or r.start for r in runs)
    cap, cap_at = timeline.max_overlap(timeline.intervals(runs, lambda r: last))
    assert cap <= CAP, f"{cap} jobs of a queue capped at {CAP} ran at once at {cap_at}:\n{pool.tail()}"
    assert timeline.self_overlaps(runs, lambda r: last) == [], pool.tail()
    records = [job.record() for job in jobs]
    assert [r.state for r in records] == ["succeeded"] * len(jobs)  # nothing lost
    assert [r.reclaims for r in records] == [0] * len(jobs), pool.tail()  # nothing taken from a live worker
    assert sorted(r.job for r in runs) == sorted(j.id for j in jobs)  # each ran exactly once
    assert any(r.start > restored_at for r in runs)  # work resumed by itself

    pool.stop()
    for spawn in pool.spawns:
        output = pool.output(spawn.worker_id)
        assert output.count("Redis is out of memory") == 1, output  # logged once, not per retry
        assert output.count("Redis accepts writes again") == 1, output
        assert "expired before renewal" not in output, output
    left = leaks(conn, ["capped"])
    assert all(v == 0 for v in left.values()), left
    report(
        chaos_figures,
        "out_of_memory",
        {
            "cap": CAP,
            "max_running": cap,
            "oom_s": round(restored_at - oom_at, 3),
            "lease_s": LEASE,
            "enqueues_refused": refused,
            "starts_during_oom": sum(1 for r in runs if oom_at < r.start < restored_at),
            "runs": len(runs),
            "leaks": left,
        },
    )
    conn.close()
