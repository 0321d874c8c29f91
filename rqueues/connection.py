"""The public connection: a Store that also hands out Queue handles."""

from __future__ import annotations

from typing import Any

import redis
from redis.cluster import RedisCluster

from . import defaults
from .backend.store import DEFAULT_URL, URL_ENV, Store, client_url, open_client, resolve_url
from .queue import Queue

__all__ = ["DEFAULT_URL", "URL_ENV", "Connection", "as_connection", "connect"]


class Connection(Store):
    """A Redis client plus the key names and scripts of one rqueues prefix."""

    def queue(self, name: str) -> Queue:
        return Queue(name, connection=self)


def connect(
    url: str | None = None,
    *,
    prefix: str = defaults.PREFIX,
    max_payload_bytes: int = defaults.MAX_PAYLOAD_BYTES,
    max_result_bytes: int = defaults.MAX_RESULT_BYTES,
) -> Connection:
    """Connect to Redis: ``url``, else $RQUEUES_REDIS_URL, else redis://localhost:6379/0.

    ``redis+cluster://host:port[,host:port...]`` connects to Redis Cluster and
    ``redis+sentinel://host:port[,host:port...]/service[/db]`` to the primary
    that Sentinel names. Every client speaks RESP2.

    ``max_payload_bytes`` bounds a job's encoded arguments (enqueue refuses larger
    ones before writing anything) and ``max_result_bytes`` its encoded result (a
    worker fails a job whose result is larger); both default to 4 MiB.
    """
    url = resolve_url(url)
    return Connection(
        open_client(url), url, prefix, max_payload_bytes=max_payload_bytes, max_result_bytes=max_result_bytes
    )


def as_connection(connection: Any) -> Connection:
    """Accept a Connection, a redis-py client, a URL or None (the default URL)."""
    if isinstance(connection, Connection):
        return connection
    if isinstance(connection, Store):
        return Connection(
            connection.redis, connection.url, connection.keys.prefix,
            max_payload_bytes=connection.max_payload_bytes, max_result_bytes=connection.max_result_bytes,
        )  # fmt: skip
    if isinstance(connection, (redis.Redis, RedisCluster)):
        return Connection(connection, client_url(connection))
    return connect(connection)
