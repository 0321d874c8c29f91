"""Loads each Lua script under lua/ once per client and gives it a typed method.

A script call is described by a ``Call`` (its keys, its arguments and the
parser of its reply, see replies.py); ``Scripts.run`` sends one now and
``Batch`` sends many in one round trip.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib.resources import files
from typing import Any, TypeVar

import msgpack
from redis.cluster import ClusterPipeline
from redis.exceptions import NoScriptError

from .. import defaults
from ..codec import encode_error
from .calls import Batch as Batch
from .calls import Call as Call
from .calls import Pending as Pending
from .entries import generated_entry, generated_id
from .keys import FINISHED_STATES, GROUP, QueueKeys
from .replies import (
    ClaimReply,
    Completed,
    Dropped,
    GiveBack,
    HandleReply,
    PurgeReply,
    Resolved,
    WatchReply,
    texts,
)

T = TypeVar("T")

_NAMES = (
    "enqueue", "claim", "complete", "deadletter", "renew", "cancel", "watch",
    "giveback", "promote", "requeue", "stop", "beat", "forget_workers", "drop_consumer", "purge",
    "drop_queue", "unrun", "progress", "depend", "resolve", "pause", "cron_tick",
)  # fmt: skip

#: The error a stopped job's record keeps (`rqueues stop`), whichever of the worker
#: and complete.lua saw the request first.
STOPPED = encode_error("Stopped", "stopped on request (rqueues stop)", "")

#: Constants every script may use, defined once in rqueues.defaults.
PREAMBLE = f"local EVENTS_MAXLEN = {defaults.EVENTS_MAXLEN}\nlocal GROUP = '{GROUP}'\n"
#: The scripts that store a final outcome, and so add it to a finished index: they also
#: get index_finished (finished_index.lua) and its constants.
FINISHING = ("complete", "cancel", "resolve", "purge")
#: The scripts that admit a job or see one reach a final state: they also get the unique
#: job and dependency functions (flow.lua).
FLOWING = ("enqueue", "complete", "cancel", "deadletter", "giveback", "purge", "requeue", "resolve")


def _finished_constants() -> str:
    """Read when a client loads its scripts, so a test can lower the bounds."""
    return (
        f"local FINISHED_MAXLEN = {defaults.FINISHED_MAXLEN}\n"
        f"local FINISHED_TRIM = {defaults.FINISHED_TRIM}\n"
        f"local RESULT_TTL = {defaults.RESULT_TTL}\n"
    )


def _text(name: str) -> str:
    return files("rqueues.backend").joinpath("lua", f"{name}.lua").read_text()


def source(name: str) -> str:
    """A script's text as sent to Redis: the file, with the constants (and, for a finishing
    script, the finished index function) after any shebang line."""
    text = _text(name)
    preamble = PREAMBLE + _text("levels")  # every script may meet a priority level's entry
    if name in FINISHING:
        preamble += _finished_constants() + _text("finished_index")
    if name in FLOWING:
        preamble += _text("flow")
    if text.startswith("#!"):
        first, _, rest = text.partition("\n")
        return f"{first}\n{preamble}{rest}"
    return preamble + text


class Scripts:
    """register_script reloads a script after a restart or failover empties the cache."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._scripts = {name: client.register_script(source(name)) for name in _NAMES}
        self._loaded: set[str] = set()  # SHAs this object loaded into the server

    def send(self, name: str, keys: Sequence[str], args: Sequence[Any], client: Any = None) -> Any:
        """Send one call on ``client`` (a pipeline queues it); the raw reply."""
        if isinstance(client, ClusterPipeline):
            # redis-py refuses EVALSHA in a cluster pipeline and would not reload a script
            # a failover lost; the source is sent instead (Redis caches it by its SHA1).
            text = self._scripts[name].script
            return client.execute_command("EVAL", text, len(keys), *keys, *args)  # type: ignore[no-untyped-call]
        return self._scripts[name](keys=keys, args=args, client=client)

    def run(self, call: Call[T]) -> T:
        """Send ``call`` now and return its parsed reply."""
        return call.parse(self.send(call.name, call.keys, call.args))

    def batch(self, client: Any = None) -> Batch:
        """Calls and plain commands to send in one round trip."""
        return Batch(self, (client or self._client).pipeline(transaction=False))

    def execute(self, pipe: Any) -> list[Any]:
        """Execute a pipeline of script calls in one round trip; errors come back as replies.

        redis-py sends SCRIPT EXISTS before every pipeline that calls a script, a second
        round trip. Skip it: a script is loaded the first time this object sends it in a
        pipeline (a call rerun after NOSCRIPT would run after the calls queued behind it,
        and a dead letter must not land after the completion it precedes); the calls Redis
        still answers NOSCRIPT (after a restart or failover emptied its cache) are rerun.
        """
        if isinstance(pipe, ClusterPipeline):
            return list(pipe.execute(raise_on_error=False))
        scripts, pipe.scripts = list(pipe.scripts), set()
        for script in scripts:
            if script.sha not in self._loaded:
                script.sha = script.registered_client.script_load(script.script)
                self._loaded.add(script.sha)
        stack = list(pipe.command_stack)
        replies: list[Any] = pipe.execute(raise_on_error=False)
        missing = [i for i, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
        if missing:
            for script in scripts:
                script.sha = script.registered_client.script_load(script.script)
            for i in missing:
                pipe.execute_command(*stack[i][0], **stack[i][1])
            for i, reply in zip(missing, pipe.execute(raise_on_error=False), strict=True):
                replies[i] = reply
        return replies

    # One typed method per script: each sends its Call now.

    def enqueue(self, q: QueueKeys, jobs: Sequence[Sequence[Any]]) -> list[str]:
        """Rows as enqueue() takes them; the entry ids. Raises ResponseError NOQUEUE or
        DUPLICATE as enqueue.lua does (Queue.enqueue_many writes a lone job with one XADD)."""
        return self.run(enqueue(q, jobs))

    def claim(
        self, q: QueueKeys, consumer: str, want: int, lease_ms: int, config_version: int | None = None
    ) -> ClaimReply:
        return self.run(claim(q, consumer, want, lease_ms, config_version))

    def complete(self, q: QueueKeys, outcomes: Sequence[Sequence[Any]]) -> int:
        return self.run(complete(q, outcomes))

    def deadletter(self, q: QueueKeys, entries: Sequence[Sequence[str]]) -> int:
        return self.run(deadletter(q, entries))

    def giveback(
        self,
        q: QueueKeys,
        entries: Sequence[tuple[str, str]],
        *,
        reclaim: bool,
        max_reclaims: int,
        reason: str,
        error: bytes,
    ) -> list[GiveBack]:
        return self.run(giveback(q, entries, reclaim, max_reclaims, reason, error))

    def cron_tick(
        self, q: QueueKeys, name: str, schedule_id: str, tick_ms: int, job_id: str, entry: bytes
    ) -> int:
        """Enqueue one tick of a schedule unless it was already (cron_tick.lua); 1 if enqueued."""
        keys = [q.cron, q.cron_ticks, q.config, q.stream, q.ids]
        return int(
            self.run(Call("cron_tick", keys, [name, schedule_id, tick_ms, job_id, entry, q.job_prefix], int))
        )

    def pause(self, q: QueueKeys, paused: bool) -> int:
        return self.run(pause(q, paused))

    def promote(self, q: QueueKeys, job_ids: Sequence[str]) -> int:
        return self.run(promote(q, job_ids))

    def renew(self, q: QueueKeys, consumer: str, entries: Sequence[str], lease_ms: int) -> list[str]:
        return self.run(renew(q, consumer, entries, lease_ms))

    def cancel(self, q: QueueKeys, job_id: str) -> HandleReply:
        return self.run(cancel(q, job_id))

    def requeue(self, q: QueueKeys, job_id: str) -> HandleReply:
        return self.run(requeue(q, job_id))

    def stop(self, q: QueueKeys, job_id: str) -> HandleReply:
        return self.run(stop(q, job_id))

    def watch(self, q: QueueKeys, job_id: str) -> WatchReply | None:
        return self.run(watch(q, job_id))

    def beat(self, workers: str, worker_id: str) -> int:
        return self.run(beat(workers, worker_id))

    def forget_workers(self, workers: str, cutoff_ms: int, worker_ids: Sequence[str]) -> list[str]:
        return self.run(forget_workers(workers, cutoff_ms, worker_ids))

    def drop_consumer(self, q: QueueKeys, consumer: str) -> Dropped:
        return self.run(drop_consumer(q, consumer))


# -- the calls: KEYS and ARGV as each script's header states them ---------------


def enqueue(q: QueueKeys, jobs: Sequence[Sequence[Any]]) -> Call[list[str]]:
    """jobs: (job id or '' to take the entry id, entry value (entries.pack_fresh), delay ms,
    unique key or '', parents JSON or '', priority level or 0) per job; the entry ids ('' for
    a scheduled or deferred job, '!' and the holder's id for a job whose unique key another
    job holds)."""
    keys = [q.config, q.stream, q.scheduled, q.events, q.ids]
    # A row of the first 3 values alone is a job with no unique key, no parents, level 0.
    args = [q.job_prefix, generated_id(q.name, ""), *(v for j in jobs for v in (*j, "", "", 0)[:6])]
    return Call("enqueue", keys, args, texts)


def claim(
    q: QueueKeys, consumer: str, want: int, lease_ms: int, config_version: int | None = None
) -> Call[ClaimReply]:
    """``config_version``: the version of the queue's config the caller routed by; a newer
    one makes the claim STALE (None skips the check)."""
    keys = [q.stream, q.leases, q.config, q.events, q.dead, q.scheduled, q.ids, q.tombstones]
    version = "" if config_version is None else config_version
    args = [
        GROUP,
        consumer,
        want,
        lease_ms,
        version,
        q.job_prefix,
        defaults.RESULT_TTL,
        generated_id(q.name, ""),
    ]
    return Call("claim", keys, args, ClaimReply.parse)


def complete(q: QueueKeys, outcomes: Sequence[Sequence[Any]], stopped: bytes = STOPPED) -> Call[int]:
    """outcomes: (entry id, job id, state, blob, result ttl s, retry delay ms[, attempt
    number]) per job, the attempt number as the claim returned it (left out, the script
    reads it from the record); ``stopped`` is the error stored for a job whose record
    carries a stop request. The number completed; see complete_noting for the jobs whose
    dependents are to be told."""
    call = complete_noting(q, outcomes, stopped)
    return Call(call.name, call.keys, call.args, lambda raw: Completed.parse(raw).count)


#: Most outcome bytes in one complete_noting call: its jobs travel as one argument, which
#: Redis refuses above its proto-max-bulk-len (1 MiB at the least, 512 MiB by default).
COMPLETE_BYTES = 512 * 1024


def complete_batches(outcomes: Sequence[Sequence[Any]]) -> list[Sequence[Sequence[Any]]]:
    """``outcomes`` (as complete_noting takes them) split into calls of at most
    COMPLETE_BYTES of outcome blobs each; an outcome larger than that goes alone."""
    batches: list[Sequence[Sequence[Any]]] = []
    start, size = 0, 0
    for i, outcome in enumerate(outcomes):
        if i > start and size + len(outcome[3]) > COMPLETE_BYTES:
            batches.append(outcomes[start:i])
            start, size = i, 0
        size += len(outcome[3])
    if start < len(outcomes):
        batches.append(outcomes[start:])
    return batches


def complete_noting(
    q: QueueKeys, outcomes: Sequence[Sequence[Any]], stopped: bytes = STOPPED
) -> Call[Completed]:
    """complete, replying also the finished jobs that have dependents to tell (a batch too
    large for one argument: split it with complete_batches)."""
    keys = [q.stream, q.leases, q.events, q.config, q.scheduled, *map(q.finished, FINISHED_STATES), q.flagged]
    rows = [o if len(o) == 7 else (*o, "") for o in outcomes]
    # One argument for the batch: redis-py encodes and sizes each argument in Python, and
    # seven a job were about a third of the acker's CPU. The records' keys are derived in
    # the script (same hash tag).
    args: list[Any] = [GROUP, stopped, q.job_prefix, msgpack.packb(rows, use_bin_type=False)]
    return Call("complete", keys, args, Completed.parse)


def deadletter(q: QueueKeys, entries: Sequence[Sequence[str]]) -> Call[int]:
    """entries: (entry id, job id, reason) per job."""
    keys = [q.stream, q.leases, q.dead, q.events, q.config, *(q.job(e[1]) for e in entries)]
    return Call("deadletter", keys, [GROUP, *(v for e in entries for v in e)], int)


def giveback(
    q: QueueKeys,
    entries: Sequence[tuple[str, str]],
    reclaim: bool,
    max_reclaims: int,
    reason: str,
    error: bytes,
) -> Call[list[GiveBack]]:
    """entries: (entry id, job id) per job."""
    keys = [
        q.stream, q.leases, q.dead, q.events, q.config, q.ids, q.tombstones,
        *(q.job(j) for _, j in entries),
    ]  # fmt: skip
    args = [GROUP, 1 if reclaim else 0, max_reclaims, reason, error, *(v for e in entries for v in e)]
    return Call("giveback", keys, args, GiveBack.parse_all)


def unrun(q: QueueKeys, entries: Sequence[tuple[str, str, str]]) -> Call[list[GiveBack]]:
    """entries: (entry id, job id, refusers as a JSON list) per job a worker could not run."""
    keys = [q.stream, q.leases, q.events, q.config, *(q.job(e[1]) for e in entries)]
    return Call("unrun", keys, [GROUP, *(v for e in entries for v in e)], GiveBack.parse_all)


def progress(q: QueueKeys, consumer: str, rows: Sequence[Sequence[Any]]) -> Call[int]:
    """rows: (entry id, job id, fraction or '', message, age ms, attempt, gpus or '') per job
    of ``consumer``'s deliveries; how many were still its own (and so written)."""
    keys = [q.leases, q.stream, *(q.job(r[1]) for r in rows)]
    return Call("progress", keys, [GROUP, consumer, *(v for r in rows for v in (r[0], *r[2:]))], int)


def promote(q: QueueKeys, job_ids: Sequence[str]) -> Call[int]:
    return Call("promote", [q.scheduled, q.stream, *(q.job(j) for j in job_ids)], list(job_ids), int)


def renew(q: QueueKeys, consumer: str, entries: Sequence[str], lease_ms: int) -> Call[list[str]]:
    """Renew the leases of ``consumer``'s deliveries ``entries``; the entries no longer its own."""
    return Call("renew", [q.leases, q.stream], [lease_ms, GROUP, consumer, *entries], texts)


def cancel(q: QueueKeys, job_id: str) -> Call[HandleReply]:
    keys = [
        q.job(job_id),
        q.events,
        q.scheduled,
        q.config,
        q.stream,
        q.ids,
        q.tombstones,
        q.finished("cancelled"),
    ]
    args = [job_id, defaults.RESULT_TTL, generated_entry(q.name, job_id) or ""]
    return Call("cancel", keys, args, HandleReply.parse)


def depend(q: QueueKeys, job_id: str, dependent_queue: str, dependent_id: str) -> Call[str]:
    """Register a dependent with its parent ``job_id`` of queue ``q``; the parent's state."""
    args = [job_id, generated_entry(q.name, job_id) or "", dependent_queue, dependent_id]
    return Call("depend", [q.job(job_id), q.stream, q.ids], args, lambda raw: texts(raw)[0])


def resolve(
    q: QueueKeys, job_id: str, parent_queue: str, parent_id: str, state: str, reason: str, error: bytes
) -> Call[Resolved]:
    """Tell the deferred job ``job_id`` of ``q`` its parent's final ``state``."""
    keys = [q.job(job_id), q.stream, q.events, q.config, q.finished("cancelled")]
    args = [job_id, parent_queue, parent_id, state, defaults.RESULT_TTL, reason, error]
    return Call("resolve", keys, args, Resolved.parse)


def requeue(q: QueueKeys, job_id: str) -> Call[HandleReply]:
    return Call("requeue", [q.job(job_id), q.stream, q.dead], [job_id], HandleReply.parse)


def stop(q: QueueKeys, job_id: str) -> Call[HandleReply]:
    """Ask for a running job to stop; the job joins the flagged set complete.lua reads."""
    return Call("stop", [q.job(job_id), q.flagged], [job_id], HandleReply.parse)


def watch(q: QueueKeys, job_id: str) -> Call[WatchReply | None]:
    keys = [q.job(job_id), q.events, q.stream, q.ids, q.flagged]
    return Call("watch", keys, [job_id, generated_entry(q.name, job_id) or ""], WatchReply.parse)


def beat(workers: str, worker_id: str) -> Call[int]:
    """Stamp a worker's heartbeat in the registry ``workers`` with Redis' clock."""
    return Call("beat", [workers], [worker_id], int)


def purge(q: QueueKeys, batch: int) -> Call[PurgeReply]:
    """Drop up to ``batch`` waiting and ``batch`` scheduled jobs of a queue."""
    keys = [q.stream, q.scheduled, q.events, q.ids, q.tombstones]
    args = [GROUP, batch, q.job_prefix, generated_id(q.name, "")]
    return Call("purge", keys, args, PurgeReply.parse)


def drop_queue(q: QueueKeys, drop_running: bool) -> Call[HandleReply]:
    """Remove a queue's keys but its job records; refused while jobs run unless ``drop_running``."""
    keys = [
        q.config, q.stream, q.leases, q.scheduled, q.dead, q.events, q.stats, q.ids, q.tombstones,
        *(q.finished(s) for s in FINISHED_STATES), q.unique, q.deferred, q.notify,
        q.starts, q.cron, q.cron_ticks, q.flagged,
    ]  # fmt: skip
    return Call("drop_queue", keys, [GROUP, 1 if drop_running else 0], HandleReply.parse)


def pause(q: QueueKeys, paused: bool) -> Call[int]:
    """Set or clear a queue's pause and wake its workers; NOQUEUE when it is not declared."""
    return Call("pause", [q.config, q.events], [1 if paused else 0], int)


def forget_workers(workers: str, cutoff_ms: int, worker_ids: Sequence[str]) -> Call[list[str]]:
    """Remove from the registry ``workers`` those of ``worker_ids`` whose heartbeat is still
    at or before ``cutoff_ms``; the ids removed."""
    return Call("forget_workers", [workers], [cutoff_ms, *worker_ids], texts)


def drop_consumer(q: QueueKeys, consumer: str) -> Call[Dropped]:
    """Delete ``consumer`` from the queue's group unless entries are pending for it."""
    return Call("drop_consumer", [q.stream], [GROUP, consumer], Dropped.parse)
