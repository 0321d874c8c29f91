"""What Redis Cluster needs beyond a single server: waiting on streams of several slots, SCAN.

Each queue lives in one slot (keys.py), so every script and every per-queue
command already goes to one node. Two things span queues: an idle worker's
wait on the streams of all its queues, and a SCAN for job records.
"""

from __future__ import annotations

import logging
import selectors
from collections.abc import Mapping
from typing import Any

import redis
from redis.cluster import ClusterNode, RedisCluster
from redis.exceptions import AskError, TryAgainError

from .clients import cluster_errors_as_connection_errors

log = logging.getLogger("rqueues.cluster")

#: How long past its BLOCK timeout a reply may take to arrive before the connection is given up.
_GRACE = 1.0
#: How long to wait for the reply of a wait that CLIENT UNBLOCK could not find blocked yet.
_SETTLE = 0.02


def scan(client: Any, cursor: int, match: str, count: int, slot_key: str) -> tuple[int, list[bytes]]:
    """One SCAN step on the primary that holds ``slot_key``: a queue's keys all live there."""
    node = client.get_node_from_key(slot_key)
    cursors, found = client.scan(cursor, match=match, count=count, target_nodes=node)
    return int(next(iter(cursors.values()))), list(found)


class SlotWaiter:
    """Blocks until any of several streams has an entry after a given id, or a timeout passes.

    Redis Cluster refuses one XREAD over keys of different slots. Streams that
    share a slot are read by one XREAD as on a single server; when they span
    slots, each slot gets an XREAD BLOCK on a connection of its own, all sent
    at once from this thread, and a selector waits for the first reply. The
    waits still blocked are ended with CLIENT UNBLOCK (or, if that misses, by
    closing their connection) at the start of the next call, so ending them
    costs the caller no time before it claims. Waiting stays in Redis: no
    polling, no helper threads.

    An instance serves one thread; its connections are kept between calls.
    """

    def __init__(self, client: RedisCluster) -> None:
        self._client: Any = client  # redis-py's cluster client is mostly untyped
        self._idle: dict[str, list[_Blocker]] = {}
        self._blocked: list[_Blocker] = []  # left blocked in Redis by the previous call

    def wait(self, waits: Mapping[str, str], timeout: float) -> None:
        self._end_blocked()
        block_ms = max(1, int(timeout * 1000))
        groups: dict[int, dict[str, str]] = {}
        for key, last in waits.items():
            groups.setdefault(self._client.keyslot(key), {})[key] = last
        if len(groups) <= 1:
            self._client.xread(dict(waits), count=1, block=block_ms)
            return
        with cluster_errors_as_connection_errors():  # a slot may be uncovered during a failover
            self._wait_slots(list(groups.values()), block_ms, timeout)

    def _wait_slots(self, groups: list[dict[str, str]], block_ms: int, timeout: float) -> None:
        started: list[_Blocker] = []
        try:
            for streams in groups:
                blocker = self._take(self._client.get_node_from_key(next(iter(streams))))
                started.append(blocker)
                blocker.send(streams, block_ms)
            with selectors.DefaultSelector() as sel:
                for blocker in started:
                    sel.register(blocker.fileno(), selectors.EVENT_READ, blocker)
                ready = {key.data for key, _ in sel.select(timeout + _GRACE)}
            for blocker in started:
                if blocker in ready:
                    blocker.read()
                    self._idle.setdefault(blocker.node.name, []).append(blocker)
                else:
                    self._blocked.append(blocker)
        except (AskError, TryAgainError) as exc:
            # A slot moved (MOVED is an AskError): the next claim on it refreshes the slot map.
            log.info("stream wait redirected (%s); retrying after the next claim", exc)
            self._drop(started)
        except BaseException:
            self._drop(started)
            raise

    def _take(self, node: Any) -> _Blocker:
        idle = self._idle.get(node.name)
        return idle.pop() if idle else _Blocker(node)

    def _drop(self, blockers: list[_Blocker]) -> None:
        for blocker in blockers:
            blocker.close()
            for pool in (self._blocked, self._idle.get(blocker.node.name, [])):
                if blocker in pool:
                    pool.remove(blocker)

    def _end_blocked(self) -> None:
        """End the waits the previous call left blocked, so their connections can be reused."""
        blocked, self._blocked = self._blocked, []
        for blocker in blocked:
            try:
                if self._end(blocker):
                    self._idle.setdefault(blocker.node.name, []).append(blocker)
                    continue
            except redis.RedisError as exc:  # a node down or a slot moved: a new connection will do
                log.debug("dropping a stream wait connection: %s", exc)
            blocker.close()

    def _end(self, blocker: _Blocker) -> bool:
        for _ in range(3):
            if blocker.conn.can_read(timeout=0):
                blocker.read()
                return True
            try:
                unblocked = blocker.node.redis_connection.client_unblock(blocker.client_id)
            except redis.ResponseError:  # CLIENT UNBLOCK not permitted here
                return False
            # Not blocked: either its reply is on the way or its XREAD has not run yet.
            if blocker.conn.can_read(timeout=_GRACE if unblocked else _SETTLE):
                blocker.read()
                return True
        return False

    def close(self) -> None:
        for blocker in self._blocked:
            blocker.close()
        for blockers in self._idle.values():
            for blocker in blockers:
                blocker.close()
        self._blocked.clear()
        self._idle.clear()


class _Blocker:
    """A connection of its own to one node, used only for one XREAD BLOCK at a time."""

    def __init__(self, node: ClusterNode) -> None:
        pool = node.redis_connection.connection_pool
        self.node: Any = node
        self.conn: Any = pool.connection_class(**pool.connection_kwargs)
        self.client_id = 0
        self._sock: Any = None  # the socket client_id belongs to

    def send(self, streams: Mapping[str, str], block_ms: int) -> None:
        self.conn.connect()  # a no-op when connected; after a reconnect the id is new
        if self.conn._sock is not self._sock:
            self.conn.send_command("CLIENT", "ID")
            self.client_id = int(self.conn.read_response())
            self._sock = self.conn._sock
        self.conn.send_command(
            "XREAD", "COUNT", 1, "BLOCK", block_ms, "STREAMS", *streams.keys(), *streams.values()
        )

    def fileno(self) -> int:
        # redis-py keeps the socket private; a selector needs it to wait on several at once.
        return int(self.conn._sock.fileno())

    def read(self) -> None:
        self.conn.read_response()  # the entries themselves are read again by the next claim

    def close(self) -> None:
        self.conn.disconnect()
