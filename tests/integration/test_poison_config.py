"""One malformed config hash skips its own queue: workers, the reaper, info, top and the exporter go on."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

import pytest
import tasks
from click.testing import CliRunner
from prometheus_client import generate_latest

from rqueues import ConfigurationError, Connection, Queue, Worker
from rqueues.backend.replies import ClaimKind
from rqueues.cli import main
from rqueues.observe.exporter import exporter_registry
from rqueues.observe.snapshot import read_snapshot
from rqueues.worker.reaper import Reaper

DEAD_AFTER = 5.0


@pytest.fixture
def broken(conn: Connection) -> Queue:
    """Queues 'aaa-broken' (sorted first, so a crash on it would hide 'good') and 'good'."""
    Queue("good", conn).declare()
    bad = Queue("aaa-broken", conn)
    bad.declare(concurrency=2)
    conn.redis.hset(bad.keys.config, mapping={"concurrency": "two", "tags": "not json"})
    return bad


def malformed_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "has a malformed configuration" in r.getMessage()]


def test_a_worker_on_all_queues_skips_the_malformed_one_and_runs_the_others(
    conn: Connection, broken: Queue, quick_worker: Callable[..., Worker], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    waiting = broken.enqueue(tasks.add, 1, 1)  # enqueue still works; the job waits for a fix
    job = Queue("good", conn).enqueue(tasks.add, 2, 3)
    worker = quick_worker()
    assert job.wait(timeout=10) == 5
    assert worker.queues == ["good"]
    assert waiting.state == "queued"
    [line] = malformed_lines(caplog)  # once, although the worker re-read it every 0.1 s
    assert "queue 'aaa-broken' has a malformed configuration: concurrency is b'two'" in line
    assert "rqueues declare aaa-broken" in line
    # Fixed by a new declaration: the worker takes the queue up again.
    broken.declare(concurrency=1)
    assert waiting.wait(timeout=10) == 2


def test_refresh_logs_a_malformed_config_once_per_version(
    conn: Connection, broken: Queue, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    worker = Worker(conn, imports=["tasks"], reaper=False)
    for _ in range(3):
        worker.refresh()
    assert worker.queues == ["good"]
    assert len(malformed_lines(caplog)) == 1
    conn.redis.hincrby(broken.keys.config, "version", 1)  # someone wrote it again, still wrong
    worker.refresh()
    assert len(malformed_lines(caplog)) == 2


def test_an_explicit_queue_list_with_a_malformed_queue_serves_the_rest(
    conn: Connection, broken: Queue, quick_worker: Callable[..., Worker]
) -> None:
    job = Queue("good", conn).enqueue(tasks.add, 1, 2)
    worker = quick_worker(queues=["aaa-broken", "good"])
    assert job.wait(timeout=10) == 3
    assert worker.queues == ["good"]


def test_a_reaper_pass_skips_the_malformed_queue_and_reaps_the_others(
    conn: Connection, broken: Queue, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    job = Queue("good", conn).enqueue(tasks.add, 2, 3)
    keys = conn.keys.queue("good")
    reply = conn.scripts.claim(keys, "w-dead", 1, 60_000)
    assert reply.kind is ClaimKind.CLAIMED
    reaper = Reaper(conn, dead_after=DEAD_AFTER, holder="test")
    report = reaper.reap_once()
    assert (report.requeued, report.dead_workers) == (1, ["w-dead"])
    assert job.state == "queued"
    reaper.reap_once()
    assert len(malformed_lines(caplog)) == 1


def test_info_top_queues_and_the_exporter_show_the_other_queues(
    conn: Connection, broken: Queue, redis_url: str
) -> None:
    Queue("good", conn).enqueue(tasks.add, 1, 1)
    assert [q.name for q in read_snapshot(conn).queues] == ["good"]
    scrape = generate_latest(exporter_registry(conn, DEAD_AFTER)).decode()
    assert 'rqueues_queue_waiting{queue="good"} 1.0' in scrape
    assert "aaa-broken" not in scrape
    runner = CliRunner()
    info = runner.invoke(main, ["info", "--json", "--sample", "0", "--redis-url", redis_url])
    assert info.exit_code == 0, info.output
    assert [q["name"] for q in json.loads(info.stdout)["queues"]] == ["good"]
    listed = runner.invoke(main, ["queues", "--json", "--redis-url", redis_url])
    assert listed.exit_code == 0, listed.output
    assert [q["name"] for q in json.loads(listed.stdout)] == ["good"]


def test_the_malformed_queue_itself_names_queue_and_field(conn: Connection, broken: Queue) -> None:
    for read in (broken.config, broken.info):
        with pytest.raises(ConfigurationError) as info:
            read()
        assert "queue 'aaa-broken' has a malformed configuration: concurrency is b'two'" in str(info.value)
