"""Loads each Lua script under lua/ once per client and gives it a typed method."""

from __future__ import annotations

from collections.abc import Sequence
from importlib.resources import files
from typing import Any

import redis

from .keys import GROUP, QueueKeys

_NAMES = ("enqueue", "claim", "start", "complete", "deadletter", "renew", "cancel", "watch")


def _source(name: str) -> str:
    return files("rqueues").joinpath("lua", f"{name}.lua").read_text()


class Scripts:
    """register_script reloads a script after a restart or failover empties the cache."""

    def __init__(self, client: redis.Redis) -> None:
        self._scripts = {name: client.register_script(_source(name)) for name in _NAMES}

    def _run(self, name: str, keys: Sequence[str], args: Sequence[Any], client: Any) -> Any:
        return self._scripts[name](keys=keys, args=args, client=client)

    def enqueue(self, q: QueueKeys, jobs: Sequence[Sequence[Any]], client: Any = None) -> Any:
        """jobs: (job id, function, payload, timeout, result ttl) per job."""
        keys = [q.config, q.stream, *(q.job(j[0]) for j in jobs)]
        return self._run("enqueue", keys, [v for j in jobs for v in j], client)

    def claim(self, q: QueueKeys, consumer: str, want: int, lease_ms: int, client: Any = None) -> Any:
        keys = [q.stream, q.leases, q.config, q.events, q.dead]
        return self._run("claim", keys, [GROUP, consumer, want, lease_ms], client)

    def start(self, q: QueueKeys, job_ids: Sequence[str], worker: str, client: Any = None) -> Any:
        return self._run("start", [q.job(j) for j in job_ids], [worker], client)

    def complete(self, q: QueueKeys, outcomes: Sequence[Sequence[Any]], client: Any = None) -> Any:
        """outcomes: (entry id, job id, state, blob, result ttl) per job."""
        keys = [q.stream, q.leases, q.events, q.config, *(q.job(o[1]) for o in outcomes)]
        return self._run("complete", keys, [GROUP, *(v for o in outcomes for v in o)], client)

    def deadletter(self, q: QueueKeys, entries: Sequence[Sequence[str]], client: Any = None) -> Any:
        """entries: (entry id, job id, reason) per job."""
        keys = [q.stream, q.leases, q.dead, q.events, *(q.job(e[1]) for e in entries)]
        return self._run("deadletter", keys, [GROUP, *(v for e in entries for v in e)], client)

    def renew(self, q: QueueKeys, job_ids: Sequence[str], lease_ms: int, client: Any = None) -> Any:
        return self._run("renew", [q.leases], [lease_ms, *job_ids], client)

    def cancel(self, q: QueueKeys, job_id: str, client: Any = None) -> Any:
        return self._run("cancel", [q.job(job_id), q.events], [job_id], client)

    def watch(self, q: QueueKeys, job_id: str, client: Any = None) -> Any:
        return self._run("watch", [q.job(job_id), q.events], [], client)
