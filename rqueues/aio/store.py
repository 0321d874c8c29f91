"""The asyncio store: a redis.asyncio client, rqueues' key names and its Lua scripts.

It runs the same client logic as the blocking Store (steps, in backend/steps.py and
the api modules): only the sending is asynchronous.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from types import TracebackType
from typing import Any, Self, TypeVar

import redis
from redis.asyncio.cluster import ClusterPipeline, RedisCluster
from redis.exceptions import NoScriptError, RedisClusterException

from .. import defaults
from ..backend.clients import redact
from ..backend.keys import Keyspace
from ..backend.scripts import Call, source
from ..backend.steps import (
    Block,
    Cmd,
    Ops,
    Script,
    Step,
    Steps,
    advance,
    first_error,
    parse_items,
    queue_item,
    single_command,
)
from ..backend.store import raise_translated
from ..checks import check_int
from .clients import AsyncClient

T = TypeVar("T")


class Scripts:
    """Lua scripts by name, sent with EVALSHA; a server that lost one (a restart or a
    failover emptied its cache) gets its source once more."""

    def __init__(self) -> None:
        self._text: dict[str, str] = {}
        self._sha: dict[str, str] = {}

    def text(self, name: str) -> str:
        if name not in self._text:
            self._text[name] = source(name)
            self._sha[name] = hashlib.sha1(self._text[name].encode()).hexdigest()
        return self._text[name]

    def sha(self, name: str) -> str:
        self.text(name)
        return self._sha[name]

    async def run(self, client: AsyncClient, call: Call[T]) -> T:
        args = (len(call.keys), *call.keys, *call.args)
        try:
            raw = await client.execute_command("EVALSHA", self.sha(call.name), *args)
        except NoScriptError:
            raw = await client.execute_command("EVAL", self.text(call.name), *args)
        return call.parse(raw)

    def queue(self, pipe: Any, call: Call[Any]) -> None:
        args = (len(call.keys), *call.keys, *call.args)
        if isinstance(pipe, ClusterPipeline):  # no script cache to count on across nodes
            pipe.execute_command("EVAL", self.text(call.name), *args)
        else:
            pipe.execute_command("EVALSHA", self.sha(call.name), *args)

    async def rerun_missing(self, client: AsyncClient, items: Sequence[Any], replies: list[Any]) -> None:
        """Send again, with their source, the calls of a pipeline that Redis answered NOSCRIPT."""
        for i, reply in enumerate(replies):
            item = items[i]
            if isinstance(reply, NoScriptError) and isinstance(item, Call):
                args = (len(item.keys), *item.keys, *item.args)
                try:
                    replies[i] = await client.execute_command("EVAL", self.text(item.name), *args)
                except redis.ResponseError as exc:
                    replies[i] = exc


class Store:
    """A redis.asyncio client plus the key names and scripts of one rqueues prefix."""

    def __init__(
        self,
        client: AsyncClient,
        url: str = "",
        prefix: str = defaults.PREFIX,
        *,
        max_payload_bytes: int = defaults.MAX_PAYLOAD_BYTES,
        max_result_bytes: int = defaults.MAX_RESULT_BYTES,
    ) -> None:
        self.redis: Any = client
        self.url = url
        self.keys = Keyspace(prefix)
        self.scripts = Scripts()
        self.cluster = isinstance(client, RedisCluster)
        self.max_payload_bytes = check_int("max_payload_bytes", max_payload_bytes, 1, 2**31)
        self.max_result_bytes = check_int("max_result_bytes", max_result_bytes, 1, 2**31)

    def __repr__(self) -> str:
        return f"aio.{type(self).__name__}({redact(self.url)!r}, prefix={self.keys.prefix!r})"

    async def run(self, steps: Steps[T]) -> T:
        """Run client logic written as steps, each step sent asynchronously; errors are
        translated as the blocking Connection's guard translates them."""
        try:
            return await self._drive(steps)
        except (redis.RedisError, RedisClusterException) as exc:
            raise_translated(exc, self.url, self.cluster)

    async def execute(self, *args: Any) -> Any:
        """One command, sent now; errors translated as run translates them. Its reply."""
        try:
            return await self.redis.execute_command(*args)
        except (redis.RedisError, RedisClusterException) as exc:
            raise_translated(exc, self.url, self.cluster)

    async def _drive(self, steps: Steps[T]) -> T:
        reply: Any = None
        error: BaseException | None = None
        while True:  # steps.drive, awaiting each step
            done, value = advance(steps, reply, error)
            if done:
                return value  # type: ignore[no-any-return]
            try:
                reply, error = await self._send(value), None
            except Exception as exc:  # the logic decides what a failed step means
                reply, error = None, exc

    async def _send(self, step: Step) -> Any:
        if isinstance(step, Script):
            return await self.scripts.run(self.redis, step.call)
        if isinstance(step, Block):
            block = max(1, int(step.timeout * 1000))
            return await self.redis.xread(dict(step.streams), count=step.count, block=block)
        return await self._ops(step)

    async def _ops(self, step: Ops) -> list[Any]:
        if (cmd := single_command(step)) is not None:  # as send_sync: no pipeline of one
            return [await self.redis.execute_command(*cmd.args)]
        if self.cluster:
            pipe = self.redis.pipeline()
        else:
            pipe = self.redis.pipeline(transaction=step.transaction)
        if not step.items:
            return []
        for item in step.items:
            if isinstance(item, Call):
                self.scripts.queue(pipe, item)
            else:
                queue_item(pipe, item)
        raw = list(await pipe.execute(raise_on_error=False))
        await self.scripts.rerun_missing(self.redis, step.items, raw)
        replies = parse_items(step.items, raw)
        if step.raise_first and (failed := first_error(replies)) is not None:
            raise failed
        return replies

    async def declared_queues(self) -> list[str]:
        members = await self.run(_smembers(self.keys.queues))
        return sorted(n.decode() for n in members)

    async def aclose(self) -> None:
        await self.redis.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


def _smembers(key: str) -> Steps[set[bytes]]:
    (members,) = yield Ops([Cmd("SMEMBERS", key)])
    return set(members)
