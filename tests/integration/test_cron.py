"""Periodic jobs: declared in Redis, each tick enqueued exactly once however many workers tick."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
import tasks
from click.testing import CliRunner, Result

from rqueues import ConfigurationError, Connection, Queue, QueueNotDeclared
from rqueues.cli import main
from rqueues.cron import add_cron, list_cron, remove_cron, tick_due


def tick_jobs(conn: Connection, queue: str) -> list[str]:
    """The chosen ids of the queue's waiting entries (a tick's job is cron-NAME-<tick>)."""
    ids = conn.redis.hkeys(conn.keys.queue(queue).ids)
    return sorted(i.decode() for i in ids)


@pytest.fixture
def created(conn: Connection, q: Queue) -> float:
    """A schedule every 5 minutes on 'default', and when it was added (Redis' clock)."""
    add_cron(conn, "report", "*/5 * * * *", "default", tasks.add, (1, 2))
    return float(conn.redis.hget(q.keys.cron_ticks, "report") or 0) / 1000


def test_each_tick_is_enqueued_once_at_its_time(conn: Connection, q: Queue, created: float) -> None:
    first = (created // 300 + 1) * 300  # the first tick after the schedule was added
    assert tick_due(conn, now=first - 1).enqueued == 0  # none before: ticks before `add` never run
    done = tick_due(conn, now=first)
    assert done.enqueued == 1 and done.next_due == first + 300
    assert tick_due(conn, now=first + 10).enqueued == 0  # the same tick again: nothing
    assert tick_jobs(conn, "default") == [f"cron-report-{int(first)}"]
    job = q.job(f"cron-report-{int(first)}")
    assert job.state == "queued" and job.record().function == "tasks:add"
    assert job.record().call() == ([1, 2], {})


def test_after_an_outage_one_catch_up_run_by_default(conn: Connection, q: Queue, created: float) -> None:
    first = (created // 300 + 1) * 300
    assert tick_due(conn, now=first + 3600).enqueued == 1  # 12 ticks missed: one run for them
    assert tick_jobs(conn, "default") == [f"cron-report-{int(first + 3600)}"]
    add_cron(conn, "more", "*/5 * * * *", "default", tasks.noop, catch_up=3)
    add_cron(conn, "none", "*/5 * * * *", "default", tasks.noop, catch_up=0)
    later = first + 7200
    assert tick_due(conn, now=later + 60).enqueued == 1 + 3 + 0  # report 1, more 3, none skips
    more = [j for j in tick_jobs(conn, "default") if j.startswith("cron-more-")]
    assert more == sorted(f"cron-more-{int(later - s)}" for s in (0, 300, 600))


def test_racing_tickers_enqueue_each_tick_once(conn: Connection, q: Queue) -> None:
    add_cron(conn, "race", "*/5 * * * *", "default", tasks.noop, catch_up=5)
    base = float(conn.redis.hget(q.keys.cron_ticks, "race") or 0) / 1000
    first = (base // 300 + 1) * 300
    totals: list[int] = []
    lock = threading.Lock()

    def ticker(step: int) -> None:
        for k in range(6):  # 6 passes, ticks 0..5 after `first`
            n = tick_due(conn, now=first + 300 * k + step).enqueued
            with lock:
                totals.append(n)

    threads = [threading.Thread(target=ticker, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    ids = tick_jobs(conn, "default")
    assert sum(totals) == len(ids) == len(set(ids)) == 6
    assert ids == sorted(f"cron-race-{int(first + 300 * k)}" for k in range(6))


def test_remove_and_list(conn: Connection, q: Queue, created: float) -> None:
    (info,) = list_cron(conn)
    assert info.job.name == "report" and info.last_run is None
    assert info.next_run is not None and info.next_run > created
    first = (created // 300 + 1) * 300
    tick_due(conn, now=first)
    (info,) = list_cron(conn)
    assert info.last_run == first
    assert remove_cron(conn, "report")
    assert not remove_cron(conn, "report")
    assert list_cron(conn) == [] and tick_due(conn, now=first + 300).enqueued == 0
    assert not conn.redis.sismember(conn.keys.cron_queues, "default")


def test_bad_schedules_are_refused(conn: Connection, q: Queue) -> None:
    with pytest.raises(ConfigurationError, match="invalid cron expression"):
        add_cron(conn, "x", "every day", "default", tasks.noop)
    with pytest.raises(ConfigurationError, match="unknown timezone"):
        add_cron(conn, "x", "0 9 * * *", "default", tasks.noop, tz="Europe/Atlantis")
    with pytest.raises(QueueNotDeclared):
        add_cron(conn, "x", "0 9 * * *", "nowhere", tasks.noop)
    with pytest.raises(ConfigurationError, match="invalid schedule name"):
        add_cron(conn, "a:b", "0 9 * * *", "default", tasks.noop)
    assert list_cron(conn) == []


def test_a_deleted_queue_takes_its_schedules(conn: Connection, q: Queue, created: float) -> None:
    q.delete()
    assert not conn.redis.exists(q.keys.cron)
    assert not conn.redis.sismember(conn.keys.cron_queues, "default")
    assert tick_due(conn, now=created + 3600).enqueued == 0


def test_cli_cron(conn: Connection, q: Queue, redis_url: str) -> None:
    def cli(*args: str) -> Result:
        return CliRunner().invoke(main, [args[0], args[1], "--redis-url", redis_url, *args[2:]])

    paris = ("--tz", "Europe/Paris")
    out = cli("cron", "add", "nightly", "30 2 * * *", "default", "tasks:add", "1", "2", *paris)
    assert out.exit_code == 0, out.output
    assert "added nightly" in out.output and "next" in out.output
    listed = cli("cron", "list")
    assert "nightly" in listed.output and "Europe/Paris" in listed.output and "NEXT_RUN" in listed.output
    bad = cli("cron", "add", "x", "99 * * * *", "default", "tasks:noop")
    assert bad.exit_code != 0 and "invalid cron expression" in bad.output
    tz = cli("cron", "add", "x", "0 * * * *", "default", "tasks:noop", "--tz", "Nowhere/Land")
    assert tz.exit_code != 0 and "unknown timezone" in tz.output
    assert cli("cron", "remove", "nightly").exit_code == 0
    gone = cli("cron", "remove", "nightly")
    assert gone.exit_code != 0 and "no periodic job named 'nightly'" in gone.output


def test_three_worker_processes_enqueue_each_second_tick_once(
    conn: Connection, redis_url: str, worker_process: Callable[..., Any], wait_until: Callable[..., Any]
) -> None:
    q = Queue("ticks", conn)
    q.declare()
    for _ in range(3):
        worker_process("--queues", "ticks", "--concurrency", "2")
    add_cron(conn, "beat", "* * * * * *", "ticks", tasks.record, (redis_url, "cron:runs", 0.0))
    wait_until(lambda: conn.redis.llen("cron:runs") >= 2 * 5, timeout=30, what="5 ticks to run")
    remove_cron(conn, "beat")
    lines = conn.redis.lrange("cron:runs", 0, -1)
    started = [line.split()[1].decode() for line in lines if line.startswith(b"start")]
    per_tick = Counter(started)
    assert len(per_tick) >= 5
    assert set(per_tick.values()) == {1}, per_tick  # each tick's job ran once
    stamps = sorted(int(job.rsplit("-", 1)[1]) for job in per_tick)
    assert stamps == sorted(set(stamps))  # one job id per tick
