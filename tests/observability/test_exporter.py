"""The exporter's figures against what Redis holds, for a prepared state."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import redis
from click.testing import CliRunner
from obs_helpers import run, scrape, value

from rqueues import Connection, Queue, Worker, connect
from rqueues.backend.keys import GROUP
from rqueues.cli import main
from rqueues.observe.exporter import ClusterCollector, exporter_registry
from rqueues.observe.metrics import serve, stop
from rqueues.observe.snapshot import read_snapshot
from rqueues.quickstart.embedded import free_port
from rqueues.worker.reaper import Reaper

DEAD_AFTER = 1.0


def prepare(
    conn: Connection,
    start_worker: Callable[..., Worker],
    worker_process: Callable[..., Any],
    wait_until: Callable[..., Any],
) -> None:
    """waiting: 7 jobs no worker may take; running: 2 of 5 under a limit of 2; stalled: 3 jobs of a
    killed worker (1 more waits); later: 3 scheduled; deadq: 2 malformed entries dead-lettered."""
    Queue("waiting", conn).declare(tags=["has=nothing"])
    Queue("waiting", conn).enqueue_many([("tasks:noop", (), {}) for _ in range(7)])
    Queue("later", conn).declare(tags=["has=nothing"])
    for _ in range(3):
        Queue("later", conn).options(delay=3600).enqueue("tasks:noop")
    Queue("running", conn).declare(concurrency=2, tags=["pool=thread"])
    Queue("running", conn).enqueue_many([("tasks:wait_for_cancel", (60,), {}) for _ in range(5)])
    Queue("deadq", conn).declare(tags=["pool=thread"])
    for i in range(2):
        conn.redis.xadd(conn.keys.queue("deadq").stream, {"bogus": str(i)})
    Queue("stalled", conn).declare(concurrency=3, tags=["pool=proc"])
    Queue("stalled", conn).enqueue_many([("tasks:sleep", (60,), {}) for _ in range(4)])

    proc = worker_process("--tags", "pool=proc", "--no-reaper", "--concurrency", "4")
    stream = conn.keys.queue("stalled").stream
    wait_until(lambda: conn.redis.xpending(stream, GROUP)["pending"] == 3, what="3 jobs taken by the process")
    proc.process.kill()  # kill -9: its jobs stay pending on a consumer that will not come back
    proc.process.wait(10)
    worker = start_worker(
        tags=["pool=thread"], concurrency=4, reaper=False, shutdown_timeout=0.5, heartbeat_seconds=0.2
    )
    leases = conn.keys.queue("running").leases
    wait_until(lambda: conn.redis.zcard(leases) == 2, what="2 running jobs")
    registry = conn.keys.worker(worker.worker_id)
    wait_until(lambda: conn.redis.hget(registry, "running") == b"2", what="a heartbeat with 2 running")
    wait_until(lambda: conn.redis.xlen(conn.keys.queue("deadq").dead) == 2, what="2 dead letters")
    wait_until(
        lambda: read_snapshot(conn, dead_after=DEAD_AFTER).dead_workers == 1,
        what="the killed worker to be dead",
    )


def test_figures_equal_what_redis_holds(
    conn: Connection,
    start_worker: Callable[..., Worker],
    worker_process: Callable[..., Any],
    wait_until: Callable[..., Any],
    promtool: str,
) -> None:
    prepare(conn, start_worker, worker_process, wait_until)
    port = free_port()
    server = serve(exporter_registry(conn, dead_after=DEAD_AFTER), port, "127.0.0.1")
    try:
        text = scrape(port)
    finally:
        stop(server)

    def q(name: str, queue: str) -> float:
        return value(text, name, queue=queue)

    expected = {
        "waiting": dict(
            waiting=7, pending=0, running=0, stalled=0, in_use=0, scheduled=0, dead=0, consumers=0
        ),
        "running": dict(
            waiting=3, pending=2, running=2, stalled=0, in_use=2, concurrency_limit=2, consumers=1
        ),
        "stalled": dict(
            waiting=1, pending=3, running=0, stalled=3, in_use=3, concurrency_limit=3, consumers=0
        ),
        "later": dict(waiting=0, scheduled=3, scheduled_due=0, consumers=0),
        "deadq": dict(waiting=0, pending=0, dead=2, consumers=1),
    }
    for queue, figures in expected.items():
        for field, want in figures.items():
            assert q(f"rqueues_queue_{field}", queue) == want, (queue, field)

    # The same figures, read from Redis independently of the exporter's code.
    r = conn.redis
    for queue in expected:
        k = conn.keys.queue(queue)
        group = next(g for g in r.xinfo_groups(k.stream) if g["name"] == GROUP.encode())
        assert q("rqueues_queue_waiting", queue) == group["lag"]
        assert q("rqueues_queue_pending", queue) == group["pending"]
        assert q("rqueues_queue_scheduled", queue) == r.zcard(k.scheduled)
        assert q("rqueues_queue_dead", queue) == r.xlen(k.dead)
        assert q("rqueues_queue_in_use", queue) == r.zcard(k.leases)
        assert q("rqueues_queue_lag_known", queue) == 1
    pending = r.xpending(conn.keys.queue("stalled").stream, GROUP)
    assert [c["pending"] for c in pending["consumers"]] == [3]  # all on the killed worker

    assert q("rqueues_queue_oldest_waiting_age_seconds", "waiting") > 0
    assert q("rqueues_queue_oldest_waiting_age_seconds", "later") == 0
    assert value(text, "rqueues_workers_live") == 1
    assert value(text, "rqueues_workers_dead") == 1
    assert value(text, "rqueues_cluster_worker_slots") == 4
    assert value(text, "rqueues_cluster_worker_running") == 2
    assert value(text, "rqueues_cluster_worker_info", tags="pool=thread") == 1
    assert value(text, "rqueues_reaper_status_present") == 0  # no reaper ever ran: said, not faked
    assert value(text, "rqueues_exporter_redis_up") == 1
    checked = run([promtool, "check", "metrics"], stdin=text)
    assert checked.returncode == 0, checked.stdout + checked.stderr

    # The reaper gives the stalled jobs back and says so in its status hash.
    report = Reaper(conn, dead_after=DEAD_AFTER).reap_once()
    assert report.requeued == 3
    families = list(ClusterCollector(conn, DEAD_AFTER).collect())
    got = {s.name: s.value for f in families for s in f.samples if not s.labels}
    assert got["rqueues_reaper_status_present"] == 1
    assert got["rqueues_reaper_reclaimed_total"] == 3
    assert 0 <= got["rqueues_reaper_last_run_age_seconds"] < 60
    stalled = {
        s.labels["queue"]: s.value for f in families for s in f.samples if s.name == "rqueues_queue_stalled"
    }
    assert stalled["stalled"] == 0


def test_redis_down_is_reported_not_raised() -> None:
    conn = connect(f"redis://127.0.0.1:{free_port()}/0")
    families = list(ClusterCollector(conn).collect())
    names = {s.name: s.value for f in families for s in f.samples}
    assert names["rqueues_exporter_redis_up"] == 0
    assert set(names) == {"rqueues_exporter_redis_up", "rqueues_exporter_scrape_duration_seconds"}
    conn.close()


def test_a_scrape_costs_the_same_whatever_the_number_of_jobs(
    conn: Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pipelined, no per-job command: 40 queues cost the same commands with 20 or 400 jobs each."""
    names = [f"q{i}" for i in range(40)]
    for name in names:
        Queue(name, conn).declare(concurrency=2)

    def one_scrape() -> tuple[dict[str, int], int, int]:
        executes, direct = [0], [0]
        real_execute, real_command = redis.client.Pipeline.execute, redis.Redis.execute_command

        def counted_execute(self: Any, *args: Any, **kwargs: Any) -> Any:
            executes[0] += 1
            return real_execute(self, *args, **kwargs)

        def counted_command(self: Any, *args: Any, **kwargs: Any) -> Any:
            direct[0] += 1
            return real_command(self, *args, **kwargs)

        before = conn.redis.info("commandstats")
        with monkeypatch.context() as m:
            m.setattr(redis.client.Pipeline, "execute", counted_execute)
            m.setattr(redis.Redis, "execute_command", counted_command)
            list(ClusterCollector(conn).collect())
        after = conn.redis.info("commandstats")
        calls = {k: v["calls"] - before.get(k, {"calls": 0})["calls"] for k, v in after.items()}
        return {k: n for k, n in calls.items() if n and k != "cmdstat_info"}, executes[0], direct[0]

    for name in names:
        Queue(name, conn).enqueue_many([("tasks:noop", (), {}) for _ in range(20)])
    small, round_trips, direct = one_scrape()
    for name in names:
        Queue(name, conn).enqueue_many([("tasks:noop", (), {}) for _ in range(380)])
    large, _, _ = one_scrape()
    assert small == large
    assert round_trips == 3 and direct == 0
    assert "cmdstat_scan" not in small and "cmdstat_keys" not in small
    assert small["cmdstat_xrange"] == len(names)  # one entry per queue: the oldest waiting


def test_exporter_once_prints_one_scrape(conn: Connection, redis_url: str) -> None:
    Queue("mail", conn).declare(concurrency=3)
    Queue("mail", conn).enqueue_many([("tasks:noop", (), {}) for _ in range(4)])
    result = CliRunner().invoke(main, ["exporter", "--once", "--redis-url", redis_url])
    assert result.exit_code == 0, result.output
    assert value(result.output, "rqueues_queue_waiting", queue="mail") == 4
    assert value(result.output, "rqueues_queue_concurrency_limit", queue="mail") == 3
    assert value(result.output, "rqueues_exporter_redis_up") == 1
