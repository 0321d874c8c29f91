"""The one client factory: every Redis client rqueues uses is made here (by clients.py)."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import redis
from redis.cluster import RedisCluster
from redis.exceptions import MovedError, RedisClusterException

from . import cluster
from .clients import client_for, cluster_unavailable, redact
from .errors import ConfigurationError, RedisUnavailable
from .keys import Keyspace
from .scripts import Scripts

if TYPE_CHECKING:
    from .queue import Queue

DEFAULT_URL = "redis://localhost:6379/0"
URL_ENV = "RQUEUES_REDIS_URL"
SOCKET_TIMEOUT = 30.0


class Connection:
    """A Redis client plus the key names and scripts of one rqueues prefix."""

    def __init__(self, client: redis.Redis | RedisCluster, url: str = "", prefix: str = "rqueues") -> None:
        self.redis: Any = client  # redis-py's reply types are unions too wide to be useful
        self.url = url
        self.keys = Keyspace(prefix)
        self.scripts = Scripts(client)
        self.cluster = isinstance(client, RedisCluster)
        self._waiters: dict[threading.Thread, cluster.SlotWaiter] = {}
        self._waiters_lock = threading.Lock()

    def queue(self, name: str) -> Queue:
        from .queue import Queue

        return Queue(name, connection=self)

    def declared_queues(self) -> list[str]:
        """Names of every declared queue, sorted."""
        with self.guard():
            return sorted(n.decode() for n in self.redis.smembers(self.keys.queues))

    def wait_streams(self, waits: Mapping[str, str], timeout: float) -> None:
        """Block until a stream has an entry after its id in ``waits``, or ``timeout`` passes.

        On Redis Cluster the streams may span slots, which one XREAD cannot:
        see cluster.SlotWaiter.
        """
        if not self.cluster:
            self.redis.xread(dict(waits), count=1, block=max(1, int(timeout * 1000)))
            return
        self._waiter().wait(waits, timeout)

    def _waiter(self) -> cluster.SlotWaiter:
        """This thread's waiter: it keeps connections with replies in flight between calls."""
        me = threading.current_thread()
        with self._waiters_lock:
            waiter = self._waiters.get(me)
            if waiter is None:
                for thread in [t for t in self._waiters if not t.is_alive()]:
                    self._waiters.pop(thread).close()
                waiter = self._waiters[me] = cluster.SlotWaiter(self.redis)
        return waiter

    def scan(self, cursor: int, match: str, count: int, slot_key: str) -> tuple[int, list[bytes]]:
        """One SCAN step for keys of the slot of ``slot_key`` (a queue's keys share one slot)."""
        if self.cluster:
            return cluster.scan(self.redis, cursor, match, count, slot_key)
        next_cursor, found = self.redis.scan(cursor, match=match, count=count)
        return int(next_cursor), list(found)

    @contextlib.contextmanager
    def guard(self) -> Iterator[None]:
        """Turn a connection failure into RedisUnavailable naming the server."""
        try:
            yield
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise RedisUnavailable(f"cannot reach Redis at {redact(self.url)}: {exc}") from exc
        except RedisClusterException as exc:  # from a RedisCluster made outside connect()
            if not cluster_unavailable(exc):
                raise
            raise RedisUnavailable(f"cannot reach Redis at {redact(self.url)}: {exc}") from exc
        except MovedError as exc:
            if self.cluster:
                raise
            raise ConfigurationError(
                f"{redact(self.url)} is a Redis Cluster node: connect with redis+cluster://host:port"
            ) from exc

    def close(self) -> None:
        with self._waiters_lock:
            waiters, self._waiters = list(self._waiters.values()), {}
        for waiter in waiters:
            waiter.close()
        self.redis.close()

    def __repr__(self) -> str:
        return f"Connection({redact(self.url)!r}, prefix={self.keys.prefix!r})"


def connect(url: str | None = None, *, prefix: str = "rqueues") -> Connection:
    """Connect to Redis: ``url``, else $RQUEUES_REDIS_URL, else redis://localhost:6379/0.

    ``redis+cluster://host:port[,host:port...]`` connects to Redis Cluster and
    ``redis+sentinel://host:port[,host:port...]/service[/db]`` to the primary
    that Sentinel names (see clients.py). Every client speaks RESP2.
    """
    url = url or os.environ.get(URL_ENV) or DEFAULT_URL
    # redis-py 8 times reads out after 5 s by default; blocking reads (at most
    # BLOCK_LIMIT) must stay well below the socket timeout.
    options: dict[str, Any] = {
        "socket_connect_timeout": 5,
        "socket_timeout": SOCKET_TIMEOUT,
        "health_check_interval": 30,
    }
    if not url.startswith("unix:"):
        options["socket_keepalive"] = True
    return Connection(client_for(url, options), url, prefix)


def as_connection(connection: Connection | redis.Redis | RedisCluster | str | None) -> Connection:
    """Accept a Connection, a redis-py client, a URL or None (the default URL)."""
    if isinstance(connection, Connection):
        return connection
    if isinstance(connection, RedisCluster):
        node = connection.get_default_node()  # type: ignore[no-untyped-call]
        return Connection(connection, f"redis+cluster://{node.host}:{node.port}")
    if isinstance(connection, redis.Redis):
        kwargs = connection.connection_pool.connection_kwargs
        return Connection(
            connection, f"redis://{kwargs.get('host')}:{kwargs.get('port')}/{kwargs.get('db', 0)}"
        )
    return connect(connection)
