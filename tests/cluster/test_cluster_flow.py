"""Unique jobs and dependencies on a 3-primary Redis Cluster: a dependent in another queue
than its parent lives in another slot, told by a script on its own queue."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from rqueues import Connection, JobCancelled, Queue


def test_a_chain_across_queues_on_different_primaries(
    conn: Connection, start_worker: Any, spread_queues: Callable[[int], list[str]]
) -> None:
    one, two = (Queue(name, conn) for name in spread_queues(2))
    one.declare()
    two.declare()
    first = one.enqueue("tasks:add", 1, 2)
    second = two.options(depends_on=[first]).enqueue("tasks:add", 3, 4)
    third = one.options(depends_on=[second]).enqueue("tasks:add", 5, 6)
    failing = two.options(retries=0).enqueue("tasks:fail", "no")
    cancelled = one.options(depends_on=[failing, first]).enqueue("tasks:noop")
    assert (second.state, third.state) == ("deferred", "deferred")
    start_worker(concurrency=2, refresh_seconds=0.1)
    assert third.wait(timeout=30) == 11
    assert second.record().started_at >= first.record().finished_at  # type: ignore[operator]
    with pytest.raises(JobCancelled, match=f"parent {failing.id} failed"):
        cancelled.wait(timeout=30)


def test_unique_keys_on_the_cluster(conn: Connection, start_worker: Any) -> None:
    q = Queue("unique", conn)
    q.declare()
    first = q.options(unique_key="k").enqueue("tasks:add", 1, 1)
    again = q.options(unique_key="k").enqueue("tasks:add", 2, 2)
    assert again.duplicate and again.id == first.id
    start_worker(refresh_seconds=0.1)
    assert first.wait(timeout=20) == 2
    assert not q.options(unique_key="k").enqueue("tasks:add", 3, 3).duplicate
