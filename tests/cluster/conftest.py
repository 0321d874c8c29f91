"""A local 3-primary Redis Cluster for the session, built from redis-server and redis-cli.

The ``conn`` fixture is overridden here: every test in this folder (and the
shared ``start_worker``) talks to the cluster. The standalone server of the
top-level conftest stays available as ``redis_url`` for independent logs.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest
from local_cluster import LocalCluster

from rqueues import Connection, connect
from rqueues.errors import ConfigurationError


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[LocalCluster]:
    try:
        cluster = LocalCluster().start()
    except ConfigurationError as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"cannot build a local Redis Cluster: {exc}")
    yield cluster
    cluster.cleanup()


@pytest.fixture
def cluster_url(redis_cluster: LocalCluster) -> str:
    return redis_cluster.url


@pytest.fixture
def conn(cluster_url: str) -> Iterator[Connection]:
    c = connect(cluster_url)
    assert c.cluster
    c.redis.flushall()  # on every primary
    yield c
    c.close()


@pytest.fixture
def spread_queues(conn: Connection) -> Callable[[int], list[str]]:
    """spread_queues(n): n queue names whose slots live on n different primaries."""

    def pick(count: int) -> list[str]:
        by_node: dict[str, str] = {}
        for i in range(1000):
            name = f"q{i}"
            by_node.setdefault(conn.redis.get_node_from_key(conn.keys.queue(name).stream).name, name)
            if len(by_node) == count:
                return list(by_node.values())
        raise AssertionError(f"no {count} queue names on distinct nodes among 1000 candidates")

    return pick
