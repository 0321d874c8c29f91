"""Jobs a worker cannot run because it cannot import their function.

Such a job is not failed by the first worker that lacks its code: it goes back
to its queue without counting an attempt, for a worker that can run it. Each
refusal is recorded in the job's record (``refused``: the worker ids). It fails,
with UnknownFunction naming the function and the workers, only when no live
worker that consumes its queue is left that has not refused it, or after
``max_refusals`` refusals (workers that come and go without the code).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass

from .. import defaults
from ..backend.store import Store
from ..backend.workers import consumers_of, json_ids
from ..codec import encode_error
from .execution import Outcome


@dataclass(frozen=True)
class Refusal:
    """What to do with one refused job: give it back with these refusers, or fail it."""

    outcome: Outcome
    refusers: tuple[str, ...]
    give_back: bool

    def failed(self) -> Outcome:
        """The final outcome when no worker is left that could run the job."""
        job = self.outcome.claimed
        message = (
            f"no live worker can run {job.function!r}: refused by {', '.join(self.refusers)}; "
            f"the last one said: {self.outcome.reason}"
        )
        blob = encode_error("rqueues.errors.UnknownFunction", message, "")
        return Outcome(job, "failed", blob, message, ("UnknownFunction",), permanent=True)

    def row(self) -> tuple[str, str, str]:
        """The unrun.lua arguments of a give-back."""
        job = self.outcome.claimed
        return (job.entry, job.job_id, json.dumps(list(self.refusers)))


def judge(
    outcome: Outcome,
    recorded: Iterable[str],
    me: str,
    consumers: Set[str],
    max_refusals: int = defaults.MAX_REFUSALS,
) -> Refusal:
    """Pure: ``recorded`` workers refused the job before ``me``; ``consumers`` are the live
    workers consuming its queue. Give it back while one of them has not refused it."""
    refusers = tuple(sorted({*recorded, me}))
    others = set(consumers) - set(refusers)
    return Refusal(outcome, refusers, give_back=bool(others) and len(refusers) < max_refusals)


class Refusals:
    """Reads what judge() needs from Redis: earlier refusals and the live consumers."""

    def __init__(self, conn: Store, worker_id: str, dead_after: float) -> None:
        self._conn = conn
        self._worker_id = worker_id
        self._dead_after = dead_after

    def judge_all(self, outcomes: Sequence[Outcome]) -> list[Refusal]:
        consumers = self._consumers({o.claimed.queue for o in outcomes})
        pipe = self._conn.redis.pipeline(transaction=False)
        for o in outcomes:
            pipe.hget(self._conn.keys.queue(o.claimed.queue).job(o.claimed.job_id), "refused")
        recorded = [json_ids(raw) for raw in pipe.execute()]
        return [
            judge(o, before, self._worker_id, consumers.get(o.claimed.queue, set()))
            for o, before in zip(outcomes, recorded, strict=True)
        ]

    def _consumers(self, queues: Set[str]) -> Mapping[str, set[str]]:
        """The live workers consuming each of ``queues``, as their last heartbeat said."""
        return consumers_of(self._conn, queues, self._dead_after)
