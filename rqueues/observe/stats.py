"""Cluster-wide job counters kept in Redis, one hash per queue.

Workers add what they observed since their last flush (HINCRBY, once per
heartbeat), so the counters only grow, like Prometheus counters, and `rqueues
top`, `rqueues info` and the exporter get rates and wait-time quantiles for
the whole cluster without scraping any worker.

Fields of ``{q:NAME}:stats``:

- ``started``: jobs that began running
- ``finished:<outcome>``: jobs that finished running, by outcome (succeeded,
  failed, retry, cancelled, dead; refused: the worker could not import the function)
- ``wait:<le>``: jobs whose wait fell in the bucket with upper bound ``le``
  (per bucket, not cumulative; ``+Inf`` for the last)
- ``wait_sum_us``: total wait in microseconds
- ``timeouts:<executor>``: jobs that ran past their timeout, by the executor they ran on
- ``memory_kills``: jobs whose child was killed past the queue's max_memory_per_child

The wait is the time from a job's stream entry (enqueued, or due after a delay
or retry) to its start.
"""

from __future__ import annotations

import bisect
import threading
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ..backend.store import Store

#: Outcomes a job that ran can finish with.
OUTCOMES = ("succeeded", "failed", "retry", "cancelled", "dead", "refused")
#: Upper bounds (seconds) of the wait and run-time buckets: milliseconds to hours.
BUCKETS: tuple[float, ...] = (
    0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0,
    30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0, 7200.0, 14400.0,
)  # fmt: skip
#: Bucket labels as Prometheus writes them ("0.001", "1.0", ..., "+Inf").
LE: tuple[str, ...] = (*(repr(b) for b in BUCKETS), "+Inf")


def bucket_index(seconds: float) -> int:
    """Index in LE of the bucket a value falls in (value <= upper bound)."""
    return bisect.bisect_left(BUCKETS, seconds)


@dataclass(frozen=True)
class QueueStats:
    """A queue's counters at one moment (or the difference of two moments)."""

    started: int = 0
    finished: Mapping[str, int] = field(default_factory=dict)
    wait_buckets: tuple[int, ...] = (0,) * len(LE)
    wait_sum: float = 0.0  # seconds
    timeouts: Mapping[str, int] = field(default_factory=dict)  # executor -> jobs
    memory_kills: int = 0

    @classmethod
    def from_hash(cls, raw: Mapping[bytes, bytes]) -> QueueStats:
        buckets = [0] * len(LE)
        index = {le: i for i, le in enumerate(LE)}
        finished: dict[str, int] = {}
        timeouts: dict[str, int] = {}
        started, wait_us, memory_kills = 0, 0, 0
        for key, value in raw.items():
            name, n = key.decode(), int(value)
            if name == "started":
                started = n
            elif name == "wait_sum_us":
                wait_us = n
            elif name.startswith("finished:"):
                finished[name[9:]] = n
            elif name.startswith("timeouts:"):
                timeouts[name[9:]] = n
            elif name == "memory_kills":
                memory_kills = n
            elif name.startswith("wait:") and name[5:] in index:
                buckets[index[name[5:]]] = n
        return cls(started, finished, tuple(buckets), wait_us / 1e6, timeouts, memory_kills)

    @property
    def wait_count(self) -> int:
        return sum(self.wait_buckets)

    def cumulative(self) -> list[tuple[str, float]]:
        """(le, cumulative count) pairs, as a Prometheus histogram exposes them."""
        total, out = 0, []
        for le, n in zip(LE, self.wait_buckets, strict=True):
            total += n
            out.append((le, float(total)))
        return out

    def since(self, earlier: QueueStats) -> QueueStats:
        """What happened between ``earlier`` and this snapshot (never negative)."""
        return QueueStats(
            max(0, self.started - earlier.started),
            {k: max(0, v - earlier.finished.get(k, 0)) for k, v in self.finished.items()},
            tuple(max(0, a - b) for a, b in zip(self.wait_buckets, earlier.wait_buckets, strict=True)),
            max(0.0, self.wait_sum - earlier.wait_sum),
            {k: max(0, v - earlier.timeouts.get(k, 0)) for k, v in self.timeouts.items()},
            max(0, self.memory_kills - earlier.memory_kills),
        )

    def wait_quantile(self, q: float) -> float | None:
        """The q-quantile of the wait, interpolated within buckets as histogram_quantile does."""
        return quantile(q, self.wait_buckets)


def quantile(q: float, buckets: Sequence[int]) -> float | None:
    """q-quantile from per-bucket counts over LE; None without observations."""
    total = sum(buckets)
    if total == 0:
        return None
    rank = q * total
    seen = 0
    for i, n in enumerate(buckets):
        if n and seen + n >= rank:
            if i == len(BUCKETS):  # the +Inf bucket: the highest finite bound is all we know
                return BUCKETS[-1]
            lower = BUCKETS[i - 1] if i else 0.0
            return lower + (BUCKETS[i] - lower) * (rank - seen) / n
        seen += n
    return BUCKETS[-1]


class StatsBuffer:
    """What a worker observed since its last flush; thread-safe, cheap on the hot path."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._deltas: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))

    def started(self, queue: str, waits: Sequence[float]) -> None:
        """Jobs of ``queue`` started after waiting ``waits`` (seconds), one each."""
        with self._lock:
            d = self._deltas[queue]
            d["started"] += len(waits)
            for wait in waits:
                d["wait:" + LE[bisect.bisect_left(BUCKETS, wait)]] += 1
            d["wait_sum_us"] += int(sum(waits) * 1e6)

    def finished(self, queue: str, outcome: str) -> None:
        with self._lock:
            self._deltas[queue]["finished:" + outcome] += 1

    def timed_out(self, queue: str, executor: str) -> None:
        with self._lock:
            self._deltas[queue]["timeouts:" + executor] += 1

    def memory_killed(self, queue: str) -> None:
        with self._lock:
            self._deltas[queue]["memory_kills"] += 1

    def take(self) -> dict[str, dict[str, int]]:
        with self._lock:
            out = {q: dict(d) for q, d in self._deltas.items() if d}
            self._deltas.clear()
        return out

    def flush(self, conn: Store) -> int:
        """Add the buffered counts to the queues' stats hashes in one round trip.

        HINCRBY is not idempotent and a failed pipeline may have been applied in
        part, so counts whose flush fails are dropped rather than risk counting
        them twice (at most one heartbeat's worth); the error propagates.
        Returns how many queues were written.
        """
        deltas = self.take()
        if not deltas:
            return 0
        pipe = conn.redis.pipeline(transaction=False)
        for queue, fields in deltas.items():
            key = conn.keys.queue(queue).stats
            for name, n in fields.items():
                pipe.hincrby(key, name, n)
        pipe.execute()
        return len(deltas)
