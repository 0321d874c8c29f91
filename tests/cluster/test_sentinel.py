"""redis+sentinel:// URLs against a real Sentinel watching a private primary and its replica."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from rqueues import ConfigurationError, Queue, RedisUnavailable, Worker, connect
from rqueues.quickstart.embedded import EmbeddedServer, find_server_binary, free_port

SERVICE = "jobs-primary"


@dataclass
class Sentinel:
    primary: EmbeddedServer
    replica: EmbeddedServer
    address: str  # host:port of the sentinel
    client: redis.Redis

    def primary_port(self) -> int:
        return int(self.client.sentinel_get_master_addr_by_name(SERVICE)[1])


def _failover(client: redis.Redis) -> bool:
    try:
        return bool(client.execute_command("SENTINEL", "FAILOVER", SERVICE))
    except redis.ResponseError as exc:
        if "NOGOODSLAVE" in str(exc):  # Sentinel has no fresh INFO from the replica yet
            return False
        raise


def _until(predicate: Callable[[], object], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if predicate():
                return
        except redis.ConnectionError:
            pass
        assert time.monotonic() < deadline, f"timed out after {timeout}s waiting for {what}"
        time.sleep(0.01)


@pytest.fixture
def sentinel(tmp_path: Path) -> Iterator[Sentinel]:
    """A primary, its replica, and one Sentinel (quorum 1) that knows both."""
    try:
        binary = find_server_binary()
    except ConfigurationError as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"no Redis server available: {exc}")
    # No delay before the replica's first sync (the default waits 5 s for more replicas).
    primary = EmbeddedServer(binary, extra=["--repl-diskless-sync-delay", "0"]).start()
    replica = EmbeddedServer(binary, extra=["--replicaof", "127.0.0.1", str(primary.port)]).start()
    port = free_port()
    config = tmp_path / "sentinel.conf"  # Sentinel rewrites its config file: it must be writable
    config.write_text(
        f"port {port}\nbind 127.0.0.1\ndir {tmp_path}\n"
        f"sentinel monitor {SERVICE} 127.0.0.1 {primary.port} 1\n"
        f"sentinel down-after-milliseconds {SERVICE} 5000\n"
    )
    with open(tmp_path / "sentinel.log", "wb") as log:
        proc = subprocess.Popen([binary, str(config), "--sentinel"], stdout=log, stderr=subprocess.STDOUT)
    client = redis.Redis(port=port, socket_connect_timeout=0.5)
    try:
        link = redis.Redis(port=replica.port)
        _until(lambda: link.info("replication").get("master_link_status") == "up", "the replica to sync")
        link.close()
        _until(lambda: client.sentinel_slaves(SERVICE), "Sentinel to find the replica")
        yield Sentinel(primary, replica, f"127.0.0.1:{port}", client)
    finally:
        client.close()
        proc.terminate()
        proc.wait(10)
        replica.cleanup()
        primary.cleanup()


def test_jobs_run_on_the_primary_and_survive_a_failover(sentinel: Sentinel) -> None:
    # An unreachable sentinel listed first: the client asks the next one.
    conn = connect(f"redis+sentinel://127.0.0.1:{free_port()},{sentinel.address}/{SERVICE}/3")
    worker = Worker(conn, imports=["tasks"], concurrency=2)
    thread = threading.Thread(target=worker.run, kwargs={"install_signals": False}, daemon=True)
    try:
        assert "resp=2" in conn.redis.execute_command("CLIENT", "INFO").decode()
        q = Queue("via-sentinel", conn)
        q.declare(concurrency=1)
        thread.start()
        assert q.enqueue("tasks:add", 1, 2).wait(timeout=20) == 3
        direct = redis.Redis(port=sentinel.primary.port, db=3)
        assert direct.sismember(conn.keys.queues, "via-sentinel")  # database 3 of the primary
        direct.close()

        # The replica becomes the primary; the same connection and the running worker follow it.
        _until(lambda: _failover(sentinel.client), "Sentinel to accept a failover")
        _until(lambda: sentinel.primary_port() == sentinel.replica.port, "the replica to be promoted")
        jobs = q.enqueue_many([("tasks:add", (i, i), {}) for i in range(3)])
        assert [j.wait(timeout=20) for j in jobs] == [0, 2, 4]
        assert thread.is_alive()
    finally:
        worker.stop()
        thread.join(10)
        conn.close()
    assert not thread.is_alive()


def test_unknown_service_is_redis_unavailable(sentinel: Sentinel) -> None:
    conn = connect(f"redis+sentinel://{sentinel.address}/no-such-service")
    with pytest.raises(RedisUnavailable, match="no-such-service"):
        conn.declared_queues()
    conn.close()
