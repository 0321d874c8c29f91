"""purge and delete: a queue's backlog dropped, a queue removed with every key, nothing running lost."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import tasks
from click.testing import CliRunner

from rqueues import Connection, Queue, QueueNotDeclared
from rqueues.backend.keys import GROUP
from rqueues.cli import main
from rqueues.errors import QueueBusy


def keys_of(conn: Connection, name: str) -> list[bytes]:
    return sorted(conn.redis.scan_iter(match=f"{conn.keys.queue(name).base}*"))


def lag(conn: Connection, name: str) -> Any:
    [group] = [
        g for g in conn.redis.xinfo_groups(conn.keys.queue(name).stream) if g["name"] == GROUP.encode()
    ]
    return group["lag"]


def test_purge_drops_waiting_and_scheduled_jobs_and_keeps_the_lag_exact(conn: Connection) -> None:
    q = Queue("purged", conn)
    q.declare()
    waiting = q.enqueue_many([(tasks.noop, (), {}) for _ in range(2_500)])  # more than one batch
    later = q.options(delay=3600).enqueue(tasks.noop)
    done = q.purge()
    assert (done.waiting, done.scheduled) == (2_500, 1)
    assert q.info().waiting == 0
    assert lag(conn, "purged") == 0  # still known: KEDA's lagCount keeps working
    assert not conn.redis.exists(conn.keys.queue("purged").job(waiting[0].id))
    assert not conn.redis.exists(conn.keys.queue("purged").job(later.id))
    after = q.enqueue(tasks.add, 1, 1)
    assert lag(conn, "purged") == 1
    assert after.state == "queued"


def test_purge_with_a_worker_running_loses_nothing_that_runs(
    conn: Connection, redis_url: str, worker_thread: Callable[..., Any], wait_until: Any
) -> None:
    q = Queue("busy", conn)
    q.declare(concurrency=1)
    running = worker_thread(worker_id="w-purge", reaper=False)
    first = q.enqueue(tasks.gated, redis_url, "purge:log", "purge:gate")
    wait_until(lambda: conn.redis.llen("purge:log") == 1, what="the first job to start")
    rest = q.enqueue_many([(tasks.noop, (), {}) for _ in range(5)])
    assert q.purge().waiting == 5
    conn.redis.rpush("purge:gate", "go")
    assert first.wait(timeout=15) is not None  # the running job finished and its outcome was stored
    assert all(not conn.redis.exists(conn.keys.queue("busy").job(j.id)) for j in rest)
    running.stop()


def test_delete_removes_every_key_of_the_queue(conn: Connection) -> None:
    q = Queue("doomed", conn)
    q.declare(concurrency=3)
    job = q.enqueue(tasks.noop)
    q.options(delay=600).enqueue(tasks.noop)
    other = Queue("kept", conn)
    other.declare()
    kept = other.enqueue(tasks.noop)
    assert q.delete() > 0
    assert keys_of(conn, "doomed") == []
    assert "doomed" not in conn.declared_queues()
    with pytest.raises(QueueNotDeclared):
        q.enqueue(tasks.noop)
    with pytest.raises(QueueNotDeclared):
        q.delete()
    assert kept.state == "queued" and "kept" in conn.declared_queues()
    assert job.id  # the handle outlives its queue; fetching it now finds nothing


def test_delete_is_refused_while_workers_consume_it_or_jobs_run(
    conn: Connection, redis_url: str, worker_thread: Callable[..., Any], wait_until: Any
) -> None:
    q = Queue("guarded", conn)
    q.declare()
    running = worker_thread(worker_id="w-guard", reaper=False)
    job = q.enqueue(tasks.gated, redis_url, "guard:log", "guard:gate")
    wait_until(lambda: conn.redis.llen("guard:log") == 1, what="the job to start")
    with pytest.raises(QueueBusy, match="consumed by 1 live worker"):
        q.delete()
    with pytest.raises(QueueBusy, match="1 running job"):
        q.delete(force=True)
    assert "guarded" in conn.declared_queues() and job.state == "running"
    conn.redis.rpush("guard:gate", "go")
    job.wait(timeout=15)
    assert q.delete(force=True) > 0  # nothing running now; the worker drops it at its refresh
    assert keys_of(conn, "guarded") == []
    running.stop()


def test_delete_drop_running_removes_a_queue_with_jobs_running(
    conn: Connection, redis_url: str, worker_thread: Callable[..., Any], wait_until: Any
) -> None:
    q = Queue("dropped", conn)
    q.declare()
    running = worker_thread(worker_id="w-drop", reaper=False)
    q.enqueue(tasks.gated, redis_url, "drop:log", "drop:gate")
    wait_until(lambda: conn.redis.llen("drop:log") == 1, what="the job to start")
    assert q.delete(force=True, drop_running=True) > 0
    conn.redis.rpush("drop:gate", "go")
    running.stop()  # its outcome finds no delivery and is discarded; the worker exits cleanly
    assert keys_of(conn, "dropped") == []


def test_cli_purge_and_delete_ask_for_confirmation(conn: Connection, redis_url: str) -> None:
    q = Queue("clip", conn)
    q.declare()
    q.enqueue_many([(tasks.noop, (), {}) for _ in range(3)])
    cli = CliRunner()
    refused = cli.invoke(main, ["purge", "clip", "--redis-url", redis_url])
    assert refused.exit_code == 1 and "--yes" in refused.output
    assert q.info().waiting == 3
    done = cli.invoke(main, ["purge", "clip", "--yes", "--redis-url", redis_url])
    assert done.exit_code == 0, done.output
    assert "3 waiting" in done.output
    gone = cli.invoke(main, ["delete", "clip", "--yes", "--redis-url", redis_url])
    assert gone.exit_code == 0, gone.output
    missing = cli.invoke(main, ["delete", "clip", "--yes", "--redis-url", redis_url])
    assert missing.exit_code == 1 and "clip" in missing.output
