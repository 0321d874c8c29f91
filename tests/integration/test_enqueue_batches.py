"""enqueue_many is all or nothing, whatever the size of the batch."""

from __future__ import annotations

import pytest
import tasks

import rqueues.enqueueing as queue_module
from rqueues import Connection, DuplicateJob, JobOptions, Queue

SIZE, CLASH = 600, 550


def batch(taken: str) -> list[tuple[object, ...]]:
    """SIZE calls; the one at CLASH has the id ``taken``, the others none."""
    calls: list[tuple[object, ...]] = [(tasks.add, (i, 1), {}) for i in range(SIZE)]
    calls[CLASH] = (tasks.add, (CLASH, 1), {}, JobOptions(job_id=taken))
    return calls


def stored(conn: Connection) -> tuple[int, int, list[bytes]]:
    keys = conn.keys.queue("default")
    jobs = sorted(conn.redis.scan_iter(match=keys.job("*"), count=1000))
    return conn.redis.xlen(keys.stream), conn.redis.zcard(keys.scheduled), jobs


@pytest.mark.parametrize("chunk", [queue_module.ENQUEUE_CHUNK, 100], ids=["one-call", "chunked"])
def test_a_batch_with_a_taken_id_far_in_writes_nothing_and_names_the_id(
    conn: Connection, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    monkeypatch.setattr(queue_module, "ENQUEUE_CHUNK", chunk)
    q = Queue("default", conn)
    q.declare()
    q.options(job_id="order-42").enqueue(tasks.noop)
    before = stored(conn)
    with pytest.raises(DuplicateJob) as info:
        q.enqueue_many(batch("order-42"))
    assert "'order-42'" in str(info.value) and "'default'" in str(info.value)
    assert stored(conn) == before
    # Without the clash the same batch goes in whole, in order.
    jobs = q.enqueue_many(batch("order-43"))
    assert len(jobs) == SIZE and jobs[CLASH].id == "order-43"
    assert stored(conn)[0] == 1 + SIZE


def test_an_id_named_twice_in_a_batch_is_named_and_nothing_is_written(conn: Connection) -> None:
    q = Queue("default", conn)
    q.declare()
    calls = batch("twice")
    calls[3] = (tasks.noop, (), {}, JobOptions(job_id="twice"))
    with pytest.raises(DuplicateJob, match="'twice'"):
        q.enqueue_many(calls)
    assert stored(conn) == (0, 0, [])
