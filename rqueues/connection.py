"""The one client factory: every Redis client rqueues uses is made here."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import redis

from .errors import RedisUnavailable
from .keys import Keyspace
from .scripts import Scripts

if TYPE_CHECKING:
    from .queue import Queue

DEFAULT_URL = "redis://localhost:6379/0"
URL_ENV = "RQUEUES_REDIS_URL"


class Connection:
    """A Redis client plus the key names and scripts of one rqueues prefix."""

    def __init__(self, client: redis.Redis, url: str = "", prefix: str = "rqueues") -> None:
        self.redis: Any = client  # redis-py's reply types are unions too wide to be useful
        self.url = url
        self.keys = Keyspace(prefix)
        self.scripts = Scripts(client)

    def queue(self, name: str) -> Queue:
        from .queue import Queue

        return Queue(name, connection=self)

    def declared_queues(self) -> list[str]:
        """Names of every declared queue, sorted."""
        with self.guard():
            return sorted(n.decode() for n in self.redis.smembers(self.keys.queues))

    @contextlib.contextmanager
    def guard(self) -> Iterator[None]:
        """Turn a connection failure into RedisUnavailable naming the server."""
        try:
            yield
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise RedisUnavailable(f"cannot reach Redis at {redact(self.url)}: {exc}") from exc

    def close(self) -> None:
        self.redis.close()

    def __repr__(self) -> str:
        return f"Connection({redact(self.url)!r}, prefix={self.keys.prefix!r})"


def connect(url: str | None = None, *, prefix: str = "rqueues") -> Connection:
    """Connect to Redis: ``url``, else $RQUEUES_REDIS_URL, else redis://localhost:6379/0."""
    url = url or os.environ.get(URL_ENV) or DEFAULT_URL
    options: dict[str, object] = {"socket_connect_timeout": 5, "health_check_interval": 30}
    if not url.startswith("unix:"):
        options["socket_keepalive"] = True
    # RESP3 changes the shape of stream replies: pin RESP2.
    client = redis.Redis.from_url(url, protocol=2, **options)
    return Connection(client, url, prefix)


def as_connection(connection: Connection | redis.Redis | str | None) -> Connection:
    """Accept a Connection, a redis-py client, a URL or None (the default URL)."""
    if isinstance(connection, Connection):
        return connection
    if isinstance(connection, redis.Redis):
        kwargs = connection.connection_pool.connection_kwargs
        return Connection(
            connection, f"redis://{kwargs.get('host')}:{kwargs.get('port')}/{kwargs.get('db', 0)}"
        )
    return connect(connection)


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit(parts._replace(netloc=user + netloc))
