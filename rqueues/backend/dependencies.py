"""Dependencies between jobs: a dependent waits for its parents' final outcomes.

A dependent may live in another queue than a parent, so in another Redis Cluster slot,
and no one script may touch two slots. So each step is a script on one queue:

1. ``register``: ``depend.lua`` on each parent's queue appends the dependent to the
   parent's ``dependents`` (atomically with reading its state), before the dependent
   exists. The dependent is then enqueued (``enqueue.lua``: a record in state 'deferred',
   ``parents`` and a ``waiting`` count, an entry in its queue's ``deferred`` zset; not in
   the stream, so the group's lag counts only runnable jobs).
2. ``settle_new``: the parents are read again once the dependent exists; each one final
   by then is told to it at once (a parent that finished between 1 and its enqueue
   found no dependent to tell).
3. A parent reaching a final state notes itself in its queue's ``notify`` zset in the
   script that stores the outcome (flow.lua's ``flow_final``). ``tell`` then calls
   ``resolve.lua`` on each dependent's queue, which counts it down (at zero it becomes a
   re-added stream entry, runnable) or cancels it with the reason, and removes the
   parent from ``notify`` once every dependent was told.

Who tells: the worker's acker right after ``complete.lua`` (worker/dependents.py), the
caller of ``Job.cancel``, and, for whatever is left (a worker that died between storing
an outcome and telling, a dead letter), the reaper's ``sweep`` of parents noted more
than ``GRACE_MS`` ago. So a dependent hears of a parent at least once; ``resolve.lua``
is idempotent per parent. A reclaim is not final: the parent is not noted, and its
dependents wait for its final outcome.
"""

from __future__ import annotations

import json
import logging
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from ..codec import encode_error
from . import scripts
from .keys import Keyspace
from .steps import Cmd, Ops, Steps, drive, send_sync
from .store import Store

T = TypeVar("T")

log = logging.getLogger("rqueues.dependencies")

FINAL = frozenset({"succeeded", "failed", "cancelled", "dead"})
#: The sweep leaves alone parents noted this recently: their acker is telling them now.
GRACE_MS = 2_000
#: Parents one sweep takes per queue.
SWEEP_BATCH = 100
#: Most dependents one ``tell`` resolves (a cascade of cancels is followed this far; the
#: rest is left noted, for the next sweep).
MAX_TOLD = 10_000
_ROUND = 100  # parents read per round trip


@dataclass(frozen=True)
class Ref:
    """A job by queue and id (an id chosen by its caller is unique only in its queue)."""

    queue: str
    job_id: str


def reason(parent: Ref, state: str) -> str:
    """Why a dependent is cancelled when ``parent`` ended in ``state``."""
    what = {"cancelled": "was cancelled", "dead": "was dead-lettered"}.get(state, state)
    return f"parent {parent.job_id} {what}"


def register_steps(keyspace: Keyspace, links: Sequence[tuple[Ref, Ref]]) -> Steps[list[str]]:
    """Register each (parent, dependent); each parent's state ('missing' when none), in one
    round trip."""
    replies = yield Ops(
        [scripts.depend(keyspace.queue(p.queue), p.job_id, d.queue, d.job_id) for p, d in links]
    )
    return list(replies)


def settle_new_steps(keyspace: Keyspace, links: Sequence[tuple[Ref, Ref]]) -> Steps[None]:
    """After the dependents of ``links`` were enqueued: tell each the parents final by now."""
    if not links:
        return
    raw = yield Ops([Cmd("HGET", keyspace.queue(p.queue).job(p.job_id), "state") for p, _ in links])
    states = [s.decode() if isinstance(s, bytes) else s for s in raw]
    final = [(p, d, s) for (p, d), s in zip(links, states, strict=True) if s in FINAL]
    if final:
        yield from _resolve_steps(keyspace, final)


def _resolve_steps(keyspace: Keyspace, told: Sequence[tuple[Ref, Ref, str]]) -> Steps[list[Ref]]:
    """Tell each dependent its parent's final state; the dependents cancelled by it that
    have dependents of their own to tell."""
    calls = []
    for parent, dep, state in told:
        why = reason(parent, state)
        error = encode_error("DependencyFailed", why, "")
        keys = keyspace.queue(dep.queue)
        calls.append(scripts.resolve(keys, dep.job_id, parent.queue, parent.job_id, state, why, error))
    replies = yield Ops(calls)
    return [dep for (_, dep, _), r in zip(told, replies, strict=True) if r.noted]


def tell_steps(keyspace: Keyspace, parents: Iterable[Ref], limit: int = MAX_TOLD) -> Steps[int]:
    """Tell the dependents of finished ``parents`` their outcome, following the cancels it
    causes; each parent leaves its queue's ``notify`` zset once all its dependents were
    told. The number of dependents told. Raises the Redis error that stopped it (what
    was not told stays noted, for the sweep)."""
    todo = deque(parents)
    count = 0
    while todo and count < limit:
        round_ = [todo.popleft() for _ in range(min(len(todo), _ROUND))]
        read = yield Ops(
            [Cmd("HMGET", keyspace.queue(p.queue).job(p.job_id), "state", "dependents") for p in round_]
        )
        told: list[tuple[Ref, Ref, str]] = []
        for p, (raw_state, raw_deps) in zip(round_, read, strict=True):
            state = raw_state.decode() if raw_state else None
            # Gone (expired) or requeued since: nothing to tell now; a requeued parent is
            # noted again when it finishes again.
            if state in FINAL and raw_deps:
                told += [(p, dep, state) for dep in _dependents(p, raw_deps)]
        if told:
            todo.extend((yield from _resolve_steps(keyspace, told)))
            count += len(told)
        yield Ops([Cmd("ZREM", keyspace.queue(p.queue).notify, p.job_id) for p in round_])
    if todo:
        log.warning("left %d parent(s) with dependents to tell for the next sweep", len(todo))
    return count


def _run(conn: Store, steps: Steps[T]) -> T:
    """Steps on the store's client, unguarded: redis-py's errors reach the caller as they are."""
    return drive(steps, lambda step: send_sync(conn.redis, conn.scripts, step))


def register(conn: Store, links: Sequence[tuple[Ref, Ref]]) -> list[str]:
    return _run(conn, register_steps(conn.keys, links))


def settle_new(conn: Store, links: Sequence[tuple[Ref, Ref]]) -> None:
    _run(conn, settle_new_steps(conn.keys, links))


def tell(conn: Store, parents: Iterable[Ref], limit: int = MAX_TOLD) -> int:
    return _run(conn, tell_steps(conn.keys, parents, limit))


def _dependents(parent: Ref, raw: bytes) -> list[Ref]:
    try:
        return [Ref(str(q), str(j)) for q, j in json.loads(raw)]
    except (ValueError, TypeError):
        log.warning("job %s of queue %s: unreadable dependents %r", parent.job_id, parent.queue, raw[:100])
        return []


def sweep(conn: Store, queues: Sequence[str], now_ms: int) -> int:
    """Tell the dependents of the parents noted more than GRACE_MS before ``now_ms`` in
    ``queues`` (at most SWEEP_BATCH per queue); the number told."""
    pipe = conn.redis.pipeline(transaction=False)
    for name in queues:
        pipe.zrangebyscore(conn.keys.queue(name).notify, "-inf", now_ms - GRACE_MS, start=0, num=SWEEP_BATCH)
    found = [
        Ref(name, member.decode())
        for name, members in zip(queues, pipe.execute(), strict=True)
        for member in members
    ]
    return tell(conn, found) if found else 0
