"""The one client factory: every Redis client rqueues uses is made here (by clients.py).

A ``Store`` is a client plus the key names and scripts of one prefix: what
every layer above talks to Redis through.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator, Mapping
from typing import Any, NoReturn, TypeVar

import redis
from redis.cluster import RedisCluster
from redis.exceptions import MovedError, OutOfMemoryError, RedisClusterException

from .. import defaults
from ..checks import check_int
from ..errors import ConfigurationError, PayloadTooLarge, RedisOutOfMemory, RedisUnavailable
from . import cluster
from .clients import client_for, cluster_unavailable, redact
from .keys import Keyspace
from .scripts import Scripts
from .steps import Steps, drive, send_sync

T = TypeVar("T")
DEFAULT_URL = defaults.DEFAULT_URL
URL_ENV = defaults.URL_ENV
SOCKET_TIMEOUT = 30.0
#: The smallest proto-max-bulk-len Redis accepts: a smaller value cannot be refused for its size.
MIN_BULK_LIMIT = 1024 * 1024


class Store:
    """A Redis client plus the key names and scripts of one rqueues prefix."""

    def __init__(
        self,
        client: redis.Redis | RedisCluster,
        url: str = "",
        prefix: str = defaults.PREFIX,
        *,
        max_payload_bytes: int = defaults.MAX_PAYLOAD_BYTES,
        max_result_bytes: int = defaults.MAX_RESULT_BYTES,
    ) -> None:
        self.redis: Any = client  # redis-py's reply types are unions too wide to be useful
        self.url = url
        #: Largest encoded arguments enqueue accepts, and largest result a worker stores.
        self.max_payload_bytes = check_int("max_payload_bytes", max_payload_bytes, 1, 2**31)
        self.max_result_bytes = check_int("max_result_bytes", max_result_bytes, 1, 2**31)
        self.keys = Keyspace(prefix)
        self.scripts = Scripts(client)
        self.cluster = isinstance(client, RedisCluster)
        self._waiters: dict[threading.Thread, cluster.SlotWaiter] = {}
        self._waiters_lock = threading.Lock()

    def run(self, steps: Steps[T], sending: int = 0) -> T:
        """Run client logic written as steps (steps.py) on this client, guarded (see guard)."""
        try:  # guard's translation without a context manager's cost
            return drive(steps, lambda step: send_sync(self.redis, self.scripts, step))
        except (redis.RedisError, RedisClusterException) as exc:
            self._raise_better(exc, sending)

    def execute(self, *args: Any, sending: int = 0) -> Any:
        """One command, sent now and guarded (see guard): its raw reply (see send_raw)."""
        try:
            return send_raw(self.redis, args)
        except (redis.RedisError, RedisClusterException) as exc:
            self._raise_better(exc, sending)

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

    def accepts_writes(self) -> bool:
        """Whether Redis accepts memory-growing writes now (False while it is out of memory).

        LPUSHX on a key that never exists writes nothing, yet Redis refuses it, as it
        refuses every such command, while used memory is above maxmemory under noeviction.
        """
        try:
            self.redis.lpushx(self.keys.write_probe, "")
        except OutOfMemoryError:
            return False
        return True

    @contextlib.contextmanager
    def guard(self, sending: int = 0) -> Iterator[None]:
        """Turn a connection failure into RedisUnavailable naming the server, and a write
        refused for lack of memory into RedisOutOfMemory.

        ``sending`` is the size of the largest value the guarded commands send: Redis
        answers a value above its ``proto-max-bulk-len`` with a protocol error or by
        closing the connection, which is the request's fault, not an unreachable server.
        """
        try:
            yield
        except (redis.RedisError, RedisClusterException) as exc:
            self._raise_better(exc, sending)

    def _raise_better(self, exc: Exception, sending: int) -> NoReturn:
        """Raise the error guard raises for ``exc``: ``exc`` itself when nothing better."""
        if (
            sending > MIN_BULK_LIMIT
            and isinstance(exc, (redis.ConnectionError, redis.ResponseError))
            and ("protocol error" in str(exc).lower() or isinstance(exc, redis.ConnectionError))
            and not isinstance(exc, OutOfMemoryError)
            and self._reachable()
        ):
            raise PayloadTooLarge(self._too_large(sending, exc)) from exc
        raise_translated(exc, self.url, self.cluster)

    def _reachable(self) -> bool:
        try:
            return bool(self.redis.ping())
        except redis.RedisError:
            return False

    def _too_large(self, sending: int, exc: Exception) -> str:
        limit = ""
        try:
            found = self.redis.config_get("proto-max-bulk-len")
            value = found.get("proto-max-bulk-len", found.get(b"proto-max-bulk-len"))
            if value is not None:
                limit = f" (its proto-max-bulk-len is {int(value)} bytes)"
        except (redis.RedisError, ValueError, AttributeError):
            pass  # CONFIG is often disabled on managed services
        return (
            f"Redis at {redact(self.url)} refused a request carrying a value of {sending} bytes{limit}: "
            f"{exc}; send smaller values or raise the server's proto-max-bulk-len"
        )

    def close(self) -> None:
        with self._waiters_lock:
            waiters, self._waiters = list(self._waiters.values()), {}
        for waiter in waiters:
            waiter.close()
        self.redis.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({redact(self.url)!r}, prefix={self.keys.prefix!r})"


#: From redis-py 6 on, execute_command takes a connection with pool.get_connection() and tries
#: again as its retry says, disconnecting first: what send_raw does.
RAW_SENDS = int(redis.VERSION[0]) >= 6


def send_raw(client: Any, args: tuple[Any, ...]) -> Any:
    """``client.execute_command(*args)`` for a command whose reply redis-py does not reshape
    (XADD's), without its per-command bookkeeping (metrics hooks, closures, reply callbacks),
    a large part of a lone enqueue's time: sent on a connection of the pool (a single-connection
    client's too, as a pipeline is), retried on a connection error as execute_command retries
    it. A cluster client, or an older redis-py, gets execute_command."""
    if not RAW_SENDS or not isinstance(client, redis.Redis):
        return client.execute_command(*args)
    pool = client.connection_pool
    conn: Any = pool.get_connection()
    try:

        def once() -> Any:
            conn.send_command(*args)
            return conn.read_response()

        return conn.retry.call_with_retry(once, lambda _: conn.disconnect())
    finally:
        pool.release(conn)


def raise_translated(exc: Exception, url: str, cluster: bool) -> NoReturn:
    """Raise translate_error's error for ``exc`` (from it), or ``exc`` itself when nothing better."""
    if (better := translate_error(exc, url, cluster)) is exc:
        raise exc
    raise better from exc


def translate_error(exc: BaseException, url: str, cluster: bool) -> BaseException:
    """The error rqueues raises for what redis-py raised (``exc`` itself when nothing better):
    RedisOutOfMemory, RedisUnavailable naming the server, a cluster node named by a plain URL."""
    if isinstance(exc, OutOfMemoryError):
        return RedisOutOfMemory(redact(url))
    if isinstance(exc, (redis.ConnectionError, redis.TimeoutError)):
        return RedisUnavailable(f"cannot reach Redis at {redact(url)}: {exc}")
    if isinstance(exc, RedisClusterException) and cluster_unavailable(
        exc
    ):  # a RedisCluster made outside connect()
        return RedisUnavailable(f"cannot reach Redis at {redact(url)}: {exc}")
    if isinstance(exc, MovedError) and not cluster:
        return ConfigurationError(
            f"{redact(url)} is a Redis Cluster node: connect with redis+cluster://host:port"
        )
    return exc


def client_options(url: str) -> dict[str, Any]:
    """Timeouts every client gets: blocking reads (a few seconds at most) stay well
    below the socket timeout, which redis-py 8 would otherwise set to 5 s."""
    options: dict[str, Any] = {
        "socket_connect_timeout": 5,
        "socket_timeout": SOCKET_TIMEOUT,
        "health_check_interval": 30,
    }
    if not url.startswith("unix:"):
        options["socket_keepalive"] = True
    return options


def resolve_url(url: str | None) -> str:
    """``url``, else $RQUEUES_REDIS_URL, else redis://localhost:6379/0."""
    return url or os.environ.get(URL_ENV) or DEFAULT_URL


def open_client(url: str) -> redis.Redis | RedisCluster:
    """A client for ``url``: ``redis://``, ``rediss://``, ``unix://``, ``redis+cluster://``
    or ``redis+sentinel://`` (see clients.py). Every client speaks RESP2."""
    return client_for(url, client_options(url))


def client_url(client: redis.Redis | RedisCluster) -> str:
    """A URL naming the server a ready-made client talks to."""
    if isinstance(client, RedisCluster):
        node = client.get_default_node()  # type: ignore[no-untyped-call]
        return f"redis+cluster://{node.host}:{node.port}"
    kwargs = client.connection_pool.connection_kwargs
    return f"redis://{kwargs.get('host')}:{kwargs.get('port')}/{kwargs.get('db', 0)}"


def as_store(connection: Any) -> Store:
    """Accept a Store, a redis-py client, a URL or None (the default URL)."""
    if isinstance(connection, Store):
        return connection
    if isinstance(connection, (redis.Redis, RedisCluster)):
        return Store(connection, client_url(connection))
    url = resolve_url(connection)
    return Store(open_client(url), url)
