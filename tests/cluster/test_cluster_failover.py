"""A primary killed under a running worker: its replica takes over and the worker carries on."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator

import pytest
from local_cluster import LocalCluster

from rqueues import ConfigurationError, Connection, Job, Queue, RedisUnavailable, Worker, connect


@pytest.fixture(scope="module")
def cluster_with_replicas() -> Iterator[LocalCluster]:
    try:
        cluster = LocalCluster(replicas=1, node_timeout_ms=1000).start()
    except ConfigurationError as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"cannot build a local Redis Cluster with replicas: {exc}")
    yield cluster
    cluster.cleanup()


def enqueue_retrying(q: Queue, deadline: float) -> Job:
    """Enqueue, retrying while the cluster fails over (the caller sees RedisUnavailable meanwhile)."""
    while True:
        try:
            return q.enqueue("tasks:add", 20, 22)
        except RedisUnavailable:
            assert time.monotonic() < deadline, "the cluster did not recover"
            time.sleep(0.1)


def test_worker_survives_a_primary_failover(cluster_with_replicas: LocalCluster) -> None:
    conn: Connection = connect(cluster_with_replicas.url)
    registries = {conn.redis.get_node_from_key(k).name for k in (conn.keys.queues, conn.keys.workers)}
    by_node: dict[str, str] = {}
    for i in range(1000):
        name = f"f{i}"
        by_node.setdefault(conn.redis.get_node_from_key(conn.keys.queue(name).stream).name, name)
    # The victim holds a queue; sparing the registries' node keeps the test about the queue's slot.
    victim = next(node for node in by_node if node not in registries)
    names = list(by_node.values())
    for name in names:
        Queue(name, conn).declare()
    primary = conn.redis.get_node(node_name=victim).redis_connection
    assert primary.execute_command("WAIT", 1, 5000) == 1  # the replica has the declaration

    worker = Worker(conn, imports=["tasks"], concurrency=2, heartbeat_seconds=0.2, dead_after=2.0)
    thread = threading.Thread(target=worker.run, kwargs={"install_signals": False}, daemon=True)
    thread.start()
    try:
        assert Queue(by_node[victim], conn).enqueue("tasks:add", 1, 1).wait(timeout=20) == 2
        server = next(s for s in cluster_with_replicas.servers if f"127.0.0.1:{s.port}" == victim)
        server.kill()
        deadline = time.monotonic() + 30
        for name in [by_node[victim], *names]:
            job = enqueue_retrying(Queue(name, conn), deadline)
            assert job.wait(timeout=30) == 42
        assert thread.is_alive()
        assert conn.redis.get_node_from_key(Queue(by_node[victim], conn).keys.stream).name != victim
    finally:
        worker.stop()
        thread.join(10)
        conn.close()
    assert not thread.is_alive()
