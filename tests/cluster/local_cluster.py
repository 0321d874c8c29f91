"""A local Redis Cluster built from redis-server and redis-cli, for the tests in this folder."""

from __future__ import annotations

import shutil
import subprocess
import time

import redis

from rqueues.errors import ConfigurationError
from rqueues.quickstart.embedded import EmbeddedServer, free_port

PRIMARIES = 3


class LocalCluster:
    """Three primaries (and ``replicas`` replicas of each) on free loopback ports, joined by
    ``redis-cli --cluster create``."""

    def __init__(self, replicas: int = 0, node_timeout_ms: int = 5000) -> None:
        self.cli = shutil.which("redis-cli") or shutil.which("valkey-cli")
        if self.cli is None:
            raise ConfigurationError("no redis-cli or valkey-cli on PATH to create a cluster")
        self.replicas = replicas
        self.node_timeout_ms = node_timeout_ms
        self.servers: list[EmbeddedServer] = []

    @property
    def addresses(self) -> list[str]:
        return [f"127.0.0.1:{s.port}" for s in self.servers]

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(self.addresses)

    def start(self, timeout: float = 30.0) -> LocalCluster:
        try:
            for _ in range(PRIMARIES * (1 + self.replicas)):
                # The bus port is chosen too: port + 10000 may be taken or past 65535.
                extra = ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]
                extra += ["--cluster-port", str(free_port())]
                extra += [
                    "--cluster-node-timeout",
                    str(self.node_timeout_ms),
                    "--repl-diskless-sync-delay",
                    "0",
                ]
                self.servers.append(EmbeddedServer(extra=extra).start())
            create = [self.cli, "--cluster", "create", *self.addresses]
            create += ["--cluster-replicas", str(self.replicas)]
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
        """Every node reports the cluster ok and knows every primary (gossip may lag the create),
        and every replica is in sync with its primary."""
        deadline = time.monotonic() + timeout
        clients = [redis.Redis(port=s.port, protocol=2) for s in self.servers]
        try:
            while True:
                states = [c.execute_command("CLUSTER", "INFO").decode() for c in clients]
                known = [len(c.execute_command("CLUSTER", "SLOTS")) for c in clients]
                links = [c.info("replication") for c in clients]
                synced = all(i.get("master_link_status", "up") == "up" for i in links)
                if (
                    synced
                    and all("cluster_state:ok" in s for s in states)
                    and all(k == PRIMARIES for k in known)
                ):
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
