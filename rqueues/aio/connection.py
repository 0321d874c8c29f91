"""The asyncio connection: ``async with rqueues.aio.connect(url) as rq`` or
``rq = await rqueues.aio.connect(url)`` then ``await rq.aclose()``, the way redis.asyncio
clients are used (a FastAPI lifespan, say)."""

from __future__ import annotations

from types import TracebackType
from typing import Any

from .. import defaults
from ..backend.store import resolve_url
from .clients import open_client
from .queue import Queue
from .store import Store


class Connection(Store):
    """A Store that also hands out Queue handles."""

    def queue(self, name: str) -> Queue:
        return Queue(name, connection=self)


class Connecting:
    """What connect() returns: awaitable (a Connection) and an async context manager."""

    def __init__(self, url: str | None, kwargs: dict[str, Any]) -> None:
        self._url, self._kwargs = resolve_url(url), kwargs
        self._conn: Connection | None = None

    async def _open(self) -> Connection:
        return Connection(await open_client(self._url), self._url, **self._kwargs)

    def __await__(self) -> Any:
        return self._open().__await__()

    async def __aenter__(self) -> Connection:
        self._conn = await self._open()
        return self._conn

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._conn is not None:
            await self._conn.aclose()


def connect(
    url: str | None = None,
    *,
    prefix: str = defaults.PREFIX,
    max_payload_bytes: int = defaults.MAX_PAYLOAD_BYTES,
    max_result_bytes: int = defaults.MAX_RESULT_BYTES,
) -> Connecting:
    """``await connect(url)`` or ``async with connect(url) as rq``; URLs as rqueues.connect
    takes them: $RQUEUES_REDIS_URL, else redis://localhost:6379/0, cluster and sentinel too."""
    kwargs = {"prefix": prefix, "max_payload_bytes": max_payload_bytes, "max_result_bytes": max_result_bytes}
    return Connecting(url, kwargs)
