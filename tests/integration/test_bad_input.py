"""Invariants 5 and 6: bad input gets a clear error, loses nothing, and never stops a worker."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
import tasks

from rqueues import (
    Connection,
    Job,
    JobFailed,
    Queue,
    QueueNotDeclared,
    RedisUnavailable,
    RqueuesError,
    SerializationError,
    connect,
)
from rqueues.backend.entries import FRESH, generated_id, pack_fresh
from rqueues.backend.keys import GROUP
from rqueues.quickstart.embedded import free_port

StartWorker = Callable[..., Any]


def job_keys(conn: Connection) -> list[bytes]:
    return list(conn.redis.scan_iter(match="*:job:*"))


def enqueue_payload(conn: Connection, q: Queue, function: str, payload: bytes) -> Job:
    """A job to run now with ``payload`` as its arguments, written as enqueue writes a job."""
    entry = conn.redis.xadd(q.keys.stream, {FRESH: pack_fresh(function, payload, b"", None)})
    return q.job(generated_id(q.name, entry.decode()))


def dead_entries(conn: Connection, queue: str) -> list[dict[str, str]]:
    entries = conn.redis.xrange(conn.keys.queue(queue).dead)
    return [{k.decode(): v.decode() for k, v in fields.items()} for _, fields in entries]


def assert_nothing_pending(conn: Connection, queue: str) -> None:
    keys = conn.keys.queue(queue)
    assert conn.redis.xpending(keys.stream, GROUP)["pending"] == 0
    assert conn.redis.zcard(keys.leases) == 0


def test_enqueue_to_an_undeclared_queue_names_queue_and_command(conn: Connection) -> None:
    q = Queue("nowhere", conn)
    with pytest.raises(QueueNotDeclared) as info:
        q.enqueue(tasks.add, 1, 2)
    message = str(info.value)
    assert "'nowhere'" in message
    assert "rqueues declare nowhere" in message
    assert info.value.queue == "nowhere"
    assert conn.redis.keys("*") == []  # nothing written, not even an empty stream
    with pytest.raises(QueueNotDeclared):
        q.enqueue_many([(tasks.add, (1, 2), {})] * 3)
    assert conn.redis.keys("*") == []


@pytest.mark.parametrize(
    ("args", "kwargs", "named"),
    [
        ((1, object()), {}, "positional argument 1"),
        ((), {"when": {1, 2}}, "keyword argument 'when'"),
    ],
)
def test_unserializable_argument_is_named_and_nothing_is_written(
    conn: Connection, args: tuple[Any, ...], kwargs: dict[str, Any], named: str
) -> None:
    q = Queue("default", conn)
    q.declare()
    stream = conn.keys.queue("default").stream
    with pytest.raises(SerializationError) as info:
        q.enqueue(tasks.echo, *args, **kwargs)
    assert isinstance(info.value, TypeError)
    assert named in str(info.value)
    assert conn.redis.xlen(stream) == 0
    assert job_keys(conn) == []
    # In a batch, one bad call keeps the whole batch out.
    with pytest.raises(SerializationError):
        q.enqueue_many([(tasks.echo, (1,), {}), (tasks.echo, args, kwargs)])
    assert conn.redis.xlen(stream) == 0
    assert job_keys(conn) == []


def test_malformed_stream_entry_is_dead_lettered_and_the_worker_goes_on(
    conn: Connection, quick_worker: StartWorker
) -> None:
    q = Queue("default", conn)
    q.declare()
    keys = conn.keys.queue("default")
    before = q.enqueue(tasks.add, 1, 1)
    bad = conn.redis.xadd(keys.stream, {"oops": "not a job"}).decode()
    bad2 = conn.redis.xadd(keys.stream, {"job": "x", "extra": "field"}).decode()
    after = q.enqueue(tasks.add, 2, 2)
    quick_worker()
    assert before.wait(timeout=10) == 2
    assert after.wait(timeout=10) == 4
    dead = {d["entry"]: d for d in dead_entries(conn, "default")}
    assert set(dead) == {bad, bad2}
    assert "malformed stream entry" in dead[bad]["reason"]
    assert "oops" in dead[bad]["reason"]
    assert "extra" in dead[bad2]["reason"]
    # Acknowledged and gone from the stream: the lag stays known, nothing is redelivered.
    assert conn.redis.xlen(keys.stream) == 0
    assert_nothing_pending(conn, "default")
    assert q.info().dead == 2


def test_entry_for_a_missing_record_is_dead_lettered(conn: Connection, quick_worker: StartWorker) -> None:
    q = Queue("default", conn)
    q.declare()
    keys = conn.keys.queue("default")
    entry = conn.redis.xadd(keys.stream, {"job": "ghost"}).decode()
    good = q.enqueue(tasks.add, 3, 3)
    quick_worker()
    assert good.wait(timeout=10) == 6
    dead = dead_entries(conn, "default")
    assert [(d["job"], d["entry"]) for d in dead] == [("ghost", entry)]
    assert "record missing" in dead[0]["reason"]
    assert_nothing_pending(conn, "default")


def test_undecodable_payload_is_dead_lettered_with_the_reason(
    conn: Connection, quick_worker: StartWorker
) -> None:
    q = Queue("default", conn)
    q.declare()
    broken = enqueue_payload(conn, q, "tasks:add", b"\xc1 not msgpack")
    good = q.enqueue(tasks.add, 5, 5)
    quick_worker()
    assert good.wait(timeout=10) == 10
    with pytest.raises(JobFailed) as info:
        broken.wait(timeout=10)
    assert "cannot decode job payload" in info.value.message
    assert broken.state == "dead"
    dead = dead_entries(conn, "default")
    assert [d["job"] for d in dead] == [broken.id]
    assert "cannot decode job payload" in dead[0]["reason"]
    assert_nothing_pending(conn, "default")


@pytest.mark.parametrize(
    ("function", "says"),
    [
        ("tasks:does_not_exist", "'does_not_exist'"),
        ("json:dumps", "--import json"),  # importable, loaded in the worker, yet not allowed
        ("tasks:os.getcwd", "not allowed"),  # tasks imports os: still not reachable through it
    ],
)
def test_unknown_function_fails_when_no_worker_can_run_it_and_the_worker_goes_on(
    conn: Connection, quick_worker: StartWorker, function: str, says: str
) -> None:
    q = Queue("default", conn)
    q.declare()
    worker = quick_worker()
    job = q.enqueue(function)
    with pytest.raises(JobFailed) as info:
        job.wait(timeout=10)
    assert info.value.exc_type.endswith("UnknownFunction")
    assert says in info.value.message
    assert f"no live worker can run {function!r}: refused by {worker.worker_id}" in info.value.message
    assert job.record().attempts == 1  # failed at once, not retried
    # The worker stops taking that queue until it is declared again (test_unknown_function.py).
    q.declare()
    assert q.enqueue(tasks.add, 20, 22).wait(timeout=10) == 42
    assert_nothing_pending(conn, "default")


def test_result_msgpack_cannot_carry_fails_the_job_clearly(
    conn: Connection, quick_worker: StartWorker
) -> None:
    q = Queue("default", conn)
    q.declare()
    quick_worker()
    job = q.enqueue(tasks.unserializable_result)
    with pytest.raises(JobFailed) as info:
        job.wait(timeout=10)
    assert info.value.exc_type.endswith("SerializationError")
    assert "return value of type set" in info.value.message
    assert job.state == "failed"
    assert q.enqueue(tasks.add, 1, 1).wait(timeout=10) == 2


def test_redis_down_is_a_clear_error_naming_the_server() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    conn = connect(url)
    q = Queue("default", conn)
    started = time.monotonic()
    for call in (lambda: q.declare(), lambda: q.enqueue(tasks.noop), conn.declared_queues):
        with pytest.raises(RedisUnavailable) as info:
            call()
        assert "cannot reach Redis" in str(info.value)
        assert url in str(info.value)
        assert isinstance(info.value, RqueuesError) and isinstance(info.value, ConnectionError)
    assert time.monotonic() - started < 30  # refused connections fail fast, not after long retries
    conn.close()
