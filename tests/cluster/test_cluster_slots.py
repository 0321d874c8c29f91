"""Queues on several primaries served by one worker, and the wait that spans their slots."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from redis.exceptions import RedisClusterException

from rqueues import Connection, Queue
from rqueues.backend.cluster import SlotWaiter

# Far longer than any wait below: a worker that woke only at its periodic refresh would time out.
REFRESH = 60.0


def xread_clients(conn: Connection, since: dict[str, int]) -> dict[str, bool]:
    """node/client id -> blocked, over every primary, for connections opened after ``since``
    (newest_client_ids) whose last command was XREAD."""
    found = {}
    for node in conn.redis.get_primaries():
        for client in node.redis_connection.client_list():
            if client["cmd"] == "xread" and int(client["id"]) > since[node.name]:
                found[f"{node.name}/{client['id']}"] = "b" in client["flags"]
    return found


def newest_client_ids(conn: Connection) -> dict[str, int]:
    """Per primary, the newest client id (ids only grow, per node)."""
    nodes = conn.redis.get_primaries()
    return {n.name: max(int(c["id"]) for c in n.redis_connection.client_list()) for n in nodes}


def test_one_worker_serves_queues_on_every_node(
    conn: Connection, start_worker: Any, spread_queues: Any, wait_until: Any
) -> None:
    names = spread_queues(3)
    nodes = {conn.redis.get_node_from_key(conn.keys.queue(n).stream).name for n in names}
    assert len(nodes) == 3
    for name in names:
        Queue(name, conn).declare()
    worker = start_worker(refresh_seconds=REFRESH)
    wait_until(lambda: sorted(worker.queues) == sorted(names), what="the worker to read its queues")
    # One job at a time, each on another node: the idle worker must wake for each from
    # its wait in Redis, not from the refresh a minute away.
    for name in [*names, *reversed(names)]:
        assert Queue(name, conn).enqueue("tasks:add", 2, 3).wait(timeout=20) == 5
    # A capped queue wakes its worker through its events stream, on its own node.
    capped = Queue(names[1], conn)
    capped.declare(concurrency=1)
    jobs = capped.enqueue_many([("tasks:sleep", (0.02,), {}) for _ in range(3)])
    assert [j.wait(timeout=20) for j in jobs] == [0.02] * 3
    # Re-declaring writes each events stream: the waiting dispatcher wakes and sees stop().
    worker.stop()
    for name in names:
        Queue(name, conn).declare()


def test_waiter_returns_on_an_entry_in_any_slot(
    conn: Connection, spread_queues: Any, wait_until: Any
) -> None:
    streams = [conn.keys.queue(n).stream for n in spread_queues(3)]
    waits = {s: "0-0" for s in streams}
    since = newest_client_ids(conn)
    waiter = SlotWaiter(conn.redis)
    first: set[str] = set()
    try:
        for target in [*reversed(streams), *streams]:
            timer = threading.Timer(0.05, conn.redis.xadd, args=(target, {"job": "x"}))
            started = time.monotonic()
            timer.start()
            waiter.wait(waits, timeout=30)
            timer.join()
            assert time.monotonic() - started < 15  # woken by the entry, not by the timeout
            waits[target] = conn.redis.xinfo_stream(target)["last-generated-id"].decode()
            clients = xread_clients(conn, since)
            # The waits on the other two slots stay blocked until the next call ends them,
            # and every round reuses the same three connections.
            assert sum(clients.values()) <= 2
            first = first or set(clients)
            assert set(clients) == first and len(first) == 3
    finally:
        waiter.close()
    wait_until(lambda: not xread_clients(conn, since), what="the waiter's connections to close")


def test_waiter_blocks_until_timeout_when_nothing_arrives(
    conn: Connection, spread_queues: Any, wait_until: Any
) -> None:
    waits = {conn.keys.queue(n).stream: "0-0" for n in spread_queues(3)}
    since = newest_client_ids(conn)
    waiter = SlotWaiter(conn.redis)
    try:
        for _ in range(2):  # the second round reuses the connections of the first
            started = time.monotonic()
            waiter.wait(waits, timeout=0.2)
            assert time.monotonic() - started >= 0.2
        assert len(xread_clients(conn, since)) == 3
    finally:
        waiter.close()
    wait_until(lambda: not xread_clients(conn, since), what="the waiter's connections to close")


def test_xread_over_slots_is_what_cluster_refuses(conn: Connection, spread_queues: Any) -> None:
    """Why the waiter exists: one XREAD over streams of two slots is an error."""
    a, b = (conn.keys.queue(n).stream for n in spread_queues(2))
    with pytest.raises(RedisClusterException, match="must map to the same key slot"):
        conn.redis.xread({a: "0-0", b: "0-0"}, block=1)
