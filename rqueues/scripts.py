"""Loads each Lua script under lua/ once per client and gives it a typed method."""

from __future__ import annotations

from collections.abc import Sequence
from importlib.resources import files
from typing import Any

from redis.cluster import ClusterPipeline
from redis.exceptions import NoScriptError

from .keys import GROUP, QueueKeys

_NAMES = (
    "enqueue", "claim", "start", "complete", "deadletter", "renew", "cancel", "watch",
    "giveback", "promote", "requeue", "stop", "beat",
)  # fmt: skip


def _source(name: str) -> str:
    return files("rqueues").joinpath("lua", f"{name}.lua").read_text()


class Scripts:
    """register_script reloads a script after a restart or failover empties the cache."""

    def __init__(self, client: Any) -> None:
        self._scripts = {name: client.register_script(_source(name)) for name in _NAMES}

    def _run(self, name: str, keys: Sequence[str], args: Sequence[Any], client: Any) -> Any:
        if isinstance(client, ClusterPipeline):
            # redis-py refuses EVALSHA in a cluster pipeline and would not reload a script
            # a failover lost; the source is sent instead (Redis caches it by its SHA1).
            source = self._scripts[name].script
            return client.execute_command("EVAL", source, len(keys), *keys, *args)  # type: ignore[no-untyped-call]
        return self._scripts[name](keys=keys, args=args, client=client)

    def execute(self, pipe: Any) -> list[Any]:
        """Execute a pipeline of script calls in one round trip; errors come back as replies.

        redis-py sends SCRIPT EXISTS before every pipeline that calls a script, a second
        round trip. Skip it; instead load the scripts and rerun the calls Redis answered
        NOSCRIPT (they did not run), as after a restart or failover.
        """
        if isinstance(pipe, ClusterPipeline):
            return list(pipe.execute(raise_on_error=False))
        scripts, pipe.scripts = list(pipe.scripts), set()
        stack = list(pipe.command_stack)
        replies: list[Any] = pipe.execute(raise_on_error=False)
        missing = [i for i, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
        if missing:
            for script in scripts:
                script.sha = script.registered_client.script_load(script.script)
            for i in missing:
                pipe.execute_command(*stack[i][0], **stack[i][1])
            for i, reply in zip(missing, pipe.execute(raise_on_error=False)):
                replies[i] = reply
        return replies

    def enqueue(self, q: QueueKeys, jobs: Sequence[Sequence[Any]], client: Any = None) -> Any:
        """jobs: (job id, function, payload, options, delay ms) per job."""
        keys = [q.config, q.stream, q.scheduled, q.events, *(q.job(j[0]) for j in jobs)]
        return self._run("enqueue", keys, [v for j in jobs for v in j], client)

    def claim(self, q: QueueKeys, consumer: str, want: int, lease_ms: int, client: Any = None) -> Any:
        keys = [q.stream, q.leases, q.config, q.events, q.dead, q.scheduled]
        return self._run("claim", keys, [GROUP, consumer, want, lease_ms], client)

    def start(self, q: QueueKeys, job_ids: Sequence[str], worker: str, client: Any = None) -> Any:
        return self._run("start", [q.job(j) for j in job_ids], [worker], client)

    def complete(self, q: QueueKeys, outcomes: Sequence[Sequence[Any]], client: Any = None) -> Any:
        """outcomes: (entry id, job id, state, blob, result ttl s, retry delay ms) per job."""
        keys = [q.stream, q.leases, q.events, q.config, q.scheduled, *(q.job(o[1]) for o in outcomes)]
        return self._run("complete", keys, [GROUP, *(v for o in outcomes for v in o)], client)

    def deadletter(self, q: QueueKeys, entries: Sequence[Sequence[str]], client: Any = None) -> Any:
        """entries: (entry id, job id, reason) per job."""
        keys = [q.stream, q.leases, q.dead, q.events, *(q.job(e[1]) for e in entries)]
        return self._run("deadletter", keys, [GROUP, *(v for e in entries for v in e)], client)

    def giveback(
        self,
        q: QueueKeys,
        entries: Sequence[tuple[str, str]],
        *,
        reclaim: bool,
        max_reclaims: int,
        reason: str,
        error: bytes,
        client: Any = None,
    ) -> Any:
        """entries: (entry id, job id) per job; returns 'queued', 'dead' or 'gone' per job."""
        keys = [q.stream, q.leases, q.dead, q.events, q.config, *(q.job(j) for _, j in entries)]
        args = [GROUP, 1 if reclaim else 0, max_reclaims, reason, error, *(v for e in entries for v in e)]
        return self._run("giveback", keys, args, client)

    def promote(self, q: QueueKeys, job_ids: Sequence[str], client: Any = None) -> Any:
        keys = [q.scheduled, q.stream, *(q.job(j) for j in job_ids)]
        return self._run("promote", keys, list(job_ids), client)

    def renew(self, q: QueueKeys, job_ids: Sequence[str], lease_ms: int, client: Any = None) -> Any:
        return self._run("renew", [q.leases], [lease_ms, *job_ids], client)

    def cancel(self, q: QueueKeys, job_id: str, client: Any = None) -> Any:
        return self._run("cancel", [q.job(job_id), q.events, q.scheduled], [job_id], client)

    def requeue(self, q: QueueKeys, job_id: str, client: Any = None) -> Any:
        return self._run("requeue", [q.job(job_id), q.stream, q.dead], [job_id], client)

    def stop(self, q: QueueKeys, job_id: str, client: Any = None) -> Any:
        return self._run("stop", [q.job(job_id)], [], client)

    def beat(self, workers: str, worker_id: str, client: Any = None) -> Any:
        """Stamp a worker's heartbeat in the registry ``workers`` with Redis' clock."""
        return self._run("beat", [workers], [worker_id], client)

    def watch(self, q: QueueKeys, job_id: str, client: Any = None) -> Any:
        return self._run("watch", [q.job(job_id), q.events], [], client)
