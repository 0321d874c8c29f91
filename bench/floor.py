"""The machine's floor for enqueue-to-start on an idle consumer, to read the latency
figures against: what a consumer that does nothing else gets here.

A bare consumer (``python -m bench.floor MODE``, redis-py only) blocks in BLPOP on a
list and runs the stamp body for each item; it is probed exactly as the latency step
probes a worker (random gaps, t0 just before the push). Each mode adds one piece of a
job system's path:

- ``bare``: BLPOP, then the stamp (a job system with no claim and no job thread);
- ``round_trip``: one more round trip (a PING) before the stamp, what a separate claim
  after the wake-up costs;
- ``hand_off``: that round trip, then the stamp on another thread, as a job slot runs it.

On an idle machine each process sleeps between probes, so every step pays for waking
a CPU; the differences between the modes are what a round trip and a thread hand-off
cost there.
"""

from __future__ import annotations

import os
import queue
import random
import statistics
import sys
import threading
import time
from typing import Any

import redis

from .procs import Workers
from .tasks import URL_ENV, stamp
from .workload import PROBE, Bench, percentile

MODES = ("bare", "round_trip", "hand_off")
JOBS = "bench:floor"


def consume(mode: str) -> None:
    """Run the bare consumer of ``mode`` until killed."""
    r = redis.Redis.from_url(os.environ[URL_ENV])
    slot: queue.SimpleQueue[str] = queue.SimpleQueue()

    def run_slot() -> None:
        while True:
            stamp(slot.get())

    threading.Thread(target=run_slot, daemon=True).start()
    while True:
        _, key = r.blpop([JOBS])  # type: ignore[misc]
        if mode != "bare":
            r.ping()
        if mode == "hand_off":
            slot.put(key.decode())
        else:
            stamp(key.decode())


def floor_rows(bench: Bench, probes: int, max_gap: float = 0.5) -> dict[str, float]:
    """``MODE_p50_ms`` and ``MODE_p99_ms`` of each bare consumer, probed one after another."""
    out: dict[str, float] = {}
    for mode in MODES:
        bench.r.flushall()
        argv = [sys.executable, "-m", "bench.floor", mode]
        deadline = time.monotonic() + bench.timeout + probes * max_gap
        with Workers(argv, {URL_ENV: bench.url}) as w:
            for _ in range(3):  # the consumer is up and has run one
                bench.r.rpush(JOBS, PROBE)
                bench._pop(PROBE, w, deadline)
            seconds = []
            for _ in range(probes):
                time.sleep(random.uniform(0.0, max_gap))
                t0 = time.time()
                bench.r.rpush(JOBS, PROBE)
                seconds.append(bench._pop(PROBE, w, deadline) - t0)
        out[f"{mode}_p50_ms"] = statistics.median(seconds) * 1000
        out[f"{mode}_p99_ms"] = percentile(seconds, 99) * 1000
    return out


def main(argv: list[str]) -> Any:
    if len(argv) != 1 or argv[0] not in MODES:
        sys.exit(f"usage: python -m bench.floor {{{','.join(MODES)}}}")
    consume(argv[0])


if __name__ == "__main__":
    main(sys.argv[1:])
