"""An entry whose job field is not UTF-8 is dead-lettered with the reason; workers, reaper, listings go on."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
import tasks
from click.testing import CliRunner

from rqueues import Connection, Queue, Worker
from rqueues.backend.keys import GROUP
from rqueues.backend.replies import ClaimKind
from rqueues.cli import main
from rqueues.observe.listing import list_dead, list_jobs
from rqueues.worker.reaper import Reaper

BAD = b"\xff\xfebad"


def dead_reasons(conn: Connection, queue: str) -> list[str]:
    return [d.reason for d in list_dead(conn, [queue])]


@pytest.fixture
def q(conn: Connection) -> Queue:
    queue = Queue("default", conn)
    queue.declare(concurrency=4)
    return queue


def test_a_non_utf8_job_id_is_dead_lettered_and_the_good_jobs_of_its_batch_run(
    conn: Connection, q: Queue, quick_worker: Callable[..., Worker]
) -> None:
    keys = conn.keys.queue("default")
    before = q.enqueue(tasks.add, 1, 1)
    bad_entry = conn.redis.xadd(keys.stream, {"job": BAD}).decode()
    after = q.enqueue(tasks.add, 2, 2)
    quick_worker(concurrency=4)  # one claim takes all three entries
    assert before.wait(timeout=10) == 2
    assert after.wait(timeout=10) == 4
    [dead] = list_dead(conn, ["default"])
    assert dead.job_id == ""
    assert dead.reason.startswith("job id is not UTF-8: b'\\xff\\xfebad'")
    assert conn.redis.xlen(keys.stream) == 0  # acknowledged and deleted: never redelivered
    assert conn.redis.xpending(keys.stream, GROUP)["pending"] == 0
    assert conn.redis.zcard(keys.leases) == 0  # its permit is released at once, not after the lease
    assert q.info().dead == 1
    assert [f[b"entry"].decode() for _, f in conn.redis.xrange(keys.dead)] == [bad_entry]
    # The worker keeps serving.
    assert q.enqueue(tasks.add, 3, 3).wait(timeout=10) == 6


def test_a_reaper_pass_dead_letters_a_dead_workers_undecodable_entry_and_reaps_on(conn: Connection) -> None:
    jobs = {}
    for name in ("default", "zzz-later"):
        queue = Queue(name, conn)
        queue.declare()
        keys = conn.keys.queue(name)
        conn.redis.xadd(keys.stream, {"job": BAD})
        jobs[name] = queue.enqueue(tasks.add, 1, 2)
        reply = conn.scripts.claim(keys, "w-dead", 10, 60_000)
        assert reply.kind is ClaimKind.CLAIMED
        assert [d.valid for d in reply.deliveries] == [False, True]

    report = Reaper(conn, dead_after=5.0, holder="test").reap_once()

    assert (report.requeued, report.dead_lettered) == (2, 2)
    for name in ("default", "zzz-later"):
        assert jobs[name].state == "queued"
        [reason] = dead_reasons(conn, name)
        assert reason.startswith("job id is not UTF-8")
        assert conn.redis.xpending(conn.keys.queue(name).stream, GROUP)["pending"] == 0
    assert Reaper(conn, dead_after=5.0, holder="test").reap_once().dead_lettered == 0


def test_dead_letters_and_job_listings_with_undecodable_fields_do_not_crash(
    conn: Connection, q: Queue, redis_url: str
) -> None:
    keys = conn.keys.queue("default")
    conn.redis.xadd(keys.dead, {"job": BAD, "entry": "1-0", "at": "soon", "reason": b"bad \xff reason"})
    conn.redis.xadd(keys.stream, {"job": BAD})  # waiting, not yet claimed
    waiting = q.enqueue(tasks.add, 1, 1)
    [dead] = list_dead(conn, ["default"])
    assert (dead.job_id, dead.at) == ("", None)
    assert dead.reason.startswith("bad \ufffd reason (job field not UTF-8: b'\\xff\\xfebad')")
    assert [r.id for r in list_jobs(conn, ["default"], state="queued")] == [waiting.id]

    runner = CliRunner()
    table = runner.invoke(main, ["dead", "--redis-url", redis_url])
    assert table.exit_code == 0, table.output
    assert "job field not UTF-8" in table.stdout
    as_json = runner.invoke(main, ["dead", "--json", "--redis-url", redis_url])
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.stdout)[0]["id"] == ""
    requeued = runner.invoke(main, ["requeue", "--queue", "default", "--all", "--redis-url", redis_url])
    assert requeued.exit_code == 0, requeued.output  # no job to requeue: skipped
