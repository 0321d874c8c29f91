"""A local 3-primary Redis Cluster for the session, built from redis-server and redis-cli.

The ``conn`` fixture is overridden here: every test in this folder (and the
shared ``start_worker``) talks to the cluster. The standalone server of the
top-level conftest stays available as ``redis_url`` for independent logs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator

import pytest
import redis

from rqueues import Connection, connect
from rqueues.embedded import EmbeddedServer, free_port
from rqueues.errors import ConfigurationError

PRIMARIES = 3


class LocalCluster:
    """Three cluster-enabled servers on free loopback ports, joined by ``redis-cli --cluster create``."""

    def __init__(self) -> None:
        self.cli = shutil.which("redis-cli") or shutil.which("valkey-cli")
        if self.cli is None:
            raise ConfigurationError("no redis-cli or valkey-cli on PATH to create a cluster")
        self.servers: list[EmbeddedServer] = []

    @property
    def addresses(self) -> list[str]:
        return [f"127.0.0.1:{s.port}" for s in self.servers]

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(self.addresses)

    def start(self, timeout: float = 30.0) -> LocalCluster:
        try:
            for _ in range(PRIMARIES):
                # The bus port is chosen too: port + 10000 may be taken or past 65535.
                extra = ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]
                extra += ["--cluster-port", str(free_port()), "--cluster-node-timeout", "5000"]
                self.servers.append(EmbeddedServer(extra=extra).start())
            create = [self.cli, "--cluster", "create", *self.addresses, "--cluster-replicas", "0"]
            done = subprocess.run(
                [*create, "--cluster-yes"], capture_output=True, text=True, timeout=timeout, check=False
            )
            if done.returncode != 0:
                raise ConfigurationError(f"redis-cli --cluster create failed:\n{done.stdout}\n{done.stderr}")
            self._wait_ok(timeout)
        except BaseException:
            self.cleanup()
            raise
        return self

    def _wait_ok(self, timeout: float) -> None:
        """Every node reports the cluster ok and knows every primary (gossip may lag the create)."""
        deadline = time.monotonic() + timeout
        clients = [redis.Redis(port=s.port, protocol=2) for s in self.servers]
        try:
            while True:
                states = [c.execute_command("CLUSTER", "INFO").decode() for c in clients]
                known = [len(c.execute_command("CLUSTER", "SLOTS")) for c in clients]
                if all("cluster_state:ok" in s for s in states) and all(k == PRIMARIES for k in known):
                    return
                if time.monotonic() >= deadline:
                    raise ConfigurationError(f"cluster not ok after {timeout}s: {states}")
                time.sleep(0.05)
        finally:
            for c in clients:
                c.close()

    def cleanup(self) -> None:
        for server in self.servers:
            server.cleanup()


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
