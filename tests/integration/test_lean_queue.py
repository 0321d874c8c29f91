"""A queued job is its stream entry alone; the claim that takes it starts it in the same call.

The handle's operations (fetch, state, record, wait, cancel), purge, give-back and the
listings find a job that has no record yet through its entry.
"""

from __future__ import annotations

from typing import Any

import pytest
import redis
import tasks

from rqueues import Connection, DuplicateJob, Job, JobCancelled, JobOptions, Queue, RedisUnavailable
from rqueues.backend.entries import pack_fresh
from rqueues.backend.keys import GROUP
from rqueues.backend.levels import RETURNED
from rqueues.backend.replies import ClaimKind
from rqueues.codec import encode_call
from rqueues.job import new_job_id
from rqueues.observe.listing import list_jobs
from rqueues.worker.reaper import Reaper

#: Half the leanest peer's cost per queued job (the performance target).
MAX_BYTES_PER_QUEUED_JOB = 62


@pytest.fixture
def q(conn: Connection) -> Queue:
    queue = Queue("default", conn)
    queue.declare()
    return queue


def command_calls(r: Any) -> dict[str, int]:
    return {name: stats["calls"] for name, stats in r.info("commandstats").items()}


def commands_during(conn: Connection, run: Any) -> dict[str, int]:
    """Commands Redis ran (those of scripts included) while ``run()`` ran."""
    before = command_calls(conn.redis)
    run()
    after = command_calls(conn.redis)
    delta = {k[len("cmdstat_") :]: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}
    delta.pop("info", None)
    return delta


def test_a_queued_job_is_one_stream_entry_and_no_other_key(conn: Connection, q: Queue) -> None:
    keys = q.keys
    before = set(conn.redis.keys("*"))
    job = q.enqueue(tasks.add, 1, 2)
    assert set(conn.redis.keys("*")) - before == set()  # the stream existed (declare)
    [(entry, fields)] = conn.redis.xrange(keys.stream)
    assert list(fields) == [b"j"]
    assert job.id == f"default:{entry.decode()}"
    assert not conn.redis.exists(keys.job(job.id))


def test_a_queued_no_arg_job_costs_at_most_62_bytes_of_redis_memory(conn: Connection, q: Queue) -> None:
    n = 20_000
    q.enqueue(tasks.noop)  # the stream's first node and the script cache exist already
    before = int(conn.redis.info("memory")["used_memory"])
    q.enqueue_many([(tasks.noop, (), {})] * n)
    after = int(conn.redis.info("memory")["used_memory"])
    assert conn.redis.xlen(q.keys.stream) == n + 1
    assert (after - before) / n <= MAX_BYTES_PER_QUEUED_JOB


def test_generated_ids_are_unique_across_queues_and_name_their_queue(conn: Connection) -> None:
    a, b = Queue("a", conn), Queue("b.c:d", conn)
    a.declare()
    b.declare()
    pipe_ids = [a.enqueue(tasks.noop).id, b.enqueue(tasks.noop).id]
    # Entries of two streams often get the same id; their jobs must not.
    assert len(set(pipe_ids)) == 2
    assert Job.fetch(pipe_ids[1], conn).queue == "b.c:d"
    assert Job.fetch(pipe_ids[0], conn).queue == "a"


def test_one_claim_call_takes_starts_and_returns_what_running_needs(conn: Connection, q: Queue) -> None:
    assert conn.scripts.claim(q.keys, "w-1", 10, 60_000).kind is ClaimKind.EMPTY  # the script is loaded
    jobs = q.enqueue_many([(tasks.add, (i, 1), {}) for i in range(5)])
    opts = q.options(timeout=30, job_id="mine").enqueue(tasks.add, 9, 9)
    replies: list[Any] = []

    def claim() -> None:
        replies.append(conn.scripts.claim(q.keys, "w-1", 10, 60_000))

    counted = commands_during(conn, claim)
    assert counted["evalsha"] == 1  # one script call from claim to running, no start step
    [reply] = replies
    assert reply.kind is ClaimKind.CLAIMED
    assert [d.job_id for d in reply.deliveries] == [j.id for j in [*jobs, opts]]
    first, last = reply.deliveries[0], reply.deliveries[-1]
    assert (first.started, first.function, first.attempts) == (True, "tasks:add", 1)
    assert first.payload == encode_call((0, 1), {})
    assert first.enqueued_ms == int(first.entry.split("-")[0])
    assert last.options and last.job_id == "mine"
    for job in [*jobs, opts]:
        rec = job.record()
        assert (rec.state, rec.worker, rec.attempts, rec.function) == ("running", "w-1", 1, "tasks:add")
        assert rec.enqueued_at and rec.started_at
    assert opts.record().timeout == 30
    assert conn.redis.hlen(q.keys.ids) == 0  # a started job leaves the ids hash
    # Nothing was cancelled: no record is read for a fresh entry (the one HMGET is the config's).
    assert counted["hmget"] == 1 and "hgetall" not in counted and "hget" not in counted


def test_a_job_with_no_record_is_found_read_waited_on_and_listed(
    conn: Connection, q: Queue, quick_worker: Any
) -> None:
    job = q.enqueue(tasks.add, 2, 3)
    mine = q.options(job_id="order-1", result_ttl=60).enqueue(tasks.add, 4, 5)
    for handle in (job, mine):
        assert not conn.redis.exists(q.keys.job(handle.id))
        assert handle.state == "queued"
        assert Job.fetch(handle.id, conn) == handle
        rec = handle.record()
        assert (rec.state, rec.function, rec.attempts, rec.worker) == ("queued", "tasks:add", 0, None)
        assert rec.enqueued_at and rec.started_at is None
    assert mine.record().call() == ([4, 5], {}) and mine.record().result_ttl == 60
    assert job.stop() is False and job.requeue() is False  # not running, not dead: no error
    listed = list_jobs(conn, ["default"], state="queued")  # newest first: one ms may hold both
    assert [r.id for r in listed] in ([mine.id, job.id], [job.id, mine.id])
    assert all(r.function == "tasks:add" and r.enqueued_at for r in listed)
    assert {r.id for r in list_jobs(conn, ["default"])} == {job.id, mine.id}
    quick_worker()
    assert (job.wait(timeout=10), mine.wait(timeout=10)) == (5, 9)
    assert job.record().state == "succeeded"


def test_a_chosen_id_stays_taken_while_queued_running_cancelled_or_kept(conn: Connection, q: Queue) -> None:
    queued = q.options(job_id="a").enqueue(tasks.noop)
    running = q.options(job_id="b").enqueue(tasks.noop)
    cancelled = q.options(job_id="c").enqueue(tasks.noop)
    assert cancelled.cancel()
    reply = conn.scripts.claim(q.keys, "w-1", 1, 60_000)  # takes 'a'
    assert [d.job_id for d in reply.deliveries] == [queued.id]
    assert queued.state == "running" and running.state == "queued"
    for taken in ("a", "b", "c"):
        with pytest.raises(DuplicateJob, match=f"'{taken}'"):
            q.options(job_id=taken).enqueue(tasks.noop)
    # A batch of more than one script call checks the ids first, the same way.
    with pytest.raises(DuplicateJob, match="'c'"):
        q.enqueue_many([(tasks.noop, (), {})] * 3 + [(tasks.noop, (), {}, JobOptions(job_id="c"))])
    assert conn.redis.xlen(q.keys.stream) == 3


def test_cancel_of_a_job_with_no_record_is_a_tombstone_the_claim_consumes(conn: Connection) -> None:
    q = Queue("default", conn)
    q.declare(result_ttl=120)
    doomed = q.enqueue(tasks.noop)
    chosen = q.options(job_id="doomed-2", result_ttl=30).enqueue(tasks.noop)
    after = q.enqueue(tasks.noop)
    assert doomed.cancel() and chosen.cancel()
    assert (doomed.state, chosen.state) == ("cancelled", "cancelled")
    assert doomed.record().function == "tasks:noop"
    assert conn.redis.xlen(q.keys.stream) == 3  # tombstones: the entries stay, the lag stays known
    assert conn.redis.hlen(q.keys.ids) == 0
    assert conn.redis.smembers(q.keys.tombstones) == {doomed.id.encode(), b"doomed-2"}
    with pytest.raises(JobCancelled):
        doomed.wait(timeout=5)

    reply = conn.scripts.claim(q.keys, "w-1", 10, 60_000)

    assert [d.job_id for d in reply.deliveries] == [after.id]  # the tombstones took no lease
    assert conn.redis.zcard(q.keys.leases) == 1
    assert conn.redis.xlen(q.keys.stream) == 1 and conn.redis.xpending(q.keys.stream, GROUP)["pending"] == 1
    assert not conn.redis.exists(q.keys.tombstones)
    assert 0 < conn.redis.ttl(q.keys.job(doomed.id)) <= 120
    assert 0 < conn.redis.ttl(q.keys.job("doomed-2")) <= 30
    assert (doomed.state, chosen.state) == ("cancelled", "cancelled")


def test_a_watched_queued_job_cancelled_is_a_tombstone_too(conn: Connection, q: Queue) -> None:
    job = q.enqueue(tasks.noop)
    assert conn.scripts.watch(q.keys, job.id) is not None  # what wait() does first
    assert conn.redis.hget(q.keys.job(job.id), "state") == b"queued"
    assert job.cancel()
    reply = conn.scripts.claim(q.keys, "w-1", 10, 60_000)
    assert reply.deliveries == ()
    assert job.state == "cancelled" and conn.redis.xlen(q.keys.stream) == 0


def test_a_watched_queued_job_runs_with_its_flag_kept(conn: Connection, q: Queue) -> None:
    job = q.enqueue(tasks.add, 1, 1)
    assert conn.scripts.watch(q.keys, job.id) is not None
    [delivery] = conn.scripts.claim(q.keys, "w-1", 10, 60_000).deliveries
    assert (delivery.started, delivery.attempts) == (True, 1)
    assert conn.redis.hmget(q.keys.job(job.id), "state", "watched") == [b"running", b"1"]


def test_purge_drops_chosen_ids_tombstones_and_their_records(conn: Connection, q: Queue) -> None:
    plain = q.enqueue(tasks.noop)
    chosen = q.options(job_id="mine").enqueue(tasks.noop)
    doomed = q.enqueue(tasks.noop)
    assert doomed.cancel()
    purged = q.purge()
    assert purged.waiting == 3
    for key in (q.keys.ids, q.keys.tombstones, q.keys.job(doomed.id), q.keys.job(chosen.id)):
        assert not conn.redis.exists(key), key
    for job in (plain, chosen, doomed):
        with pytest.raises(Exception, match="no job"):
            job.state  # noqa: B018
    assert q.options(job_id="mine").enqueue(tasks.noop).id == "mine"  # the id is free again


def test_a_job_queued_by_the_previous_layout_still_runs(
    conn: Connection, q: Queue, quick_worker: Any
) -> None:
    """A record that says 'queued' and a `job=ID` entry: how every queued job used to look."""
    job_id = new_job_id()
    conn.redis.hset(
        q.keys.job(job_id),
        mapping={"function": "tasks:add", "payload": encode_call((20, 22), {}), "state": "queued",
                 "enqueued_at": 1},
    )  # fmt: skip
    conn.redis.xadd(q.keys.stream, {"job": job_id})
    quick_worker()
    assert q.job(job_id).wait(timeout=10) == 42


def test_a_fresh_entry_delivered_but_never_started_goes_back_with_its_job(conn: Connection, q: Queue) -> None:
    """Read by something other than the claim (which starts what it takes): the reaper
    rebuilds the job's record from the entry instead of losing it."""
    job = q.options(job_id="kept").enqueue(tasks.add, 1, 2)
    conn.redis.xreadgroup(GROUP, "w-gone", {q.keys.stream: ">"}, count=1)
    assert Reaper(conn).reap_once().requeued == 1
    rec = job.record()
    assert (rec.state, rec.attempts, rec.reclaims, rec.call()) == ("queued", 0, 0, ([1, 2], {}))
    assert conn.redis.hlen(q.keys.ids) == 0
    [(_, fields)] = conn.redis.xrange(q.keys.level_stream(RETURNED))  # given back to the front
    assert fields == {b"job": b"kept"} and conn.redis.xlen(q.keys.stream) == 0


def test_enqueue_refuses_an_undeclared_queue_and_writes_nothing(conn: Connection) -> None:
    with pytest.raises(redis.ResponseError, match="NOQUEUE"):
        conn.scripts.enqueue(conn.keys.queue("nowhere"), [("", b"\x92\xa1f\xa0", 0)])
    assert conn.redis.keys("*") == []


def test_a_lone_job_is_one_xadd_on_any_client_and_after_its_connection_dropped(
    conn: Connection, q: Queue, redis_url: str
) -> None:
    """A job to run now with a generated id is written by one XADD and nothing else: on the
    pooled connection, on one the server closed meanwhile, and by a single-connection client."""
    admin = redis.Redis.from_url(redis_url)
    single = redis.Redis.from_url(redis_url, protocol=2, single_connection_client=True)
    before = command_calls(admin)
    q.enqueue(tasks.add, 1)
    admin.client_kill_filter(_type="normal", skipme=True)  # drops the pooled connection
    q.enqueue(tasks.add, 2)
    Queue("default", single).enqueue(tasks.add, 3)
    ran = {k: v - before.get(k, 0) for k, v in command_calls(admin).items() if v != before.get(k, 0)}
    assert {k: v for k, v in ran.items() if not k.startswith(("cmdstat_info", "cmdstat_client"))} == {
        "cmdstat_xadd": 3
    }  # and reconnecting, and this test's own INFO and CLIENT KILL
    entries = [fields[b"j"] for _, fields in conn.redis.xrange(q.keys.stream)]
    assert entries == [pack_fresh("tasks:add", encode_call((n,), {}), b"", None) for n in (1, 2, 3)]
    admin.close()
    single.close()


def test_a_lone_enqueue_whose_connection_fails_writes_nothing_and_the_next_reconnects(
    conn: Connection, q: Queue, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A connection error while the XADD is sent is RedisUnavailable (after as many tries as
    the client's retry allows) and leaves no broken connection behind."""
    send = redis.connection.AbstractConnection.send_packed_command

    def failing(self: Any, command: Any, check_health: bool = True) -> None:
        self.disconnect()
        raise redis.ConnectionError("connection dropped")

    monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", failing)
    with pytest.raises(RedisUnavailable, match="connection dropped"):
        q.enqueue(tasks.add, 1)
    monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", send)
    assert conn.redis.xlen(q.keys.stream) == 0
    assert q.enqueue(tasks.add, 2).state == "queued"
    assert conn.redis.xlen(q.keys.stream) == 1
