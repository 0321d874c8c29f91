"""The cost of a rate-limited claim against a plain one (`make bench` runs it after the main figures).

Two queues hold the same no-argument jobs; one declares a rate limit too high to
bind (1,000,000/s), so every claim pays the sliding window (trim, count, one ZADD
per job started) and nothing else differs. Each queue is drained by claims of
``--batch`` jobs called back to back from one client, alternating between the two,
and the server time per job is compared, median of ``--runs``:

    python -m bench.ratelimit [--jobs N] [--batch N] [--runs N] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

from rqueues import Queue, connect
from rqueues.quickstart.embedded import EmbeddedServer


def drain(q: Queue, batch: int) -> tuple[float, int]:
    """Seconds spent in claims until the queue is empty, and the claims made."""
    scripts, keys = q.connection.scripts, q.keys
    calls, spent = 0, 0.0
    while True:
        began = time.perf_counter()
        reply = scripts.claim(keys, "bench", batch, 600_000)
        spent += time.perf_counter() - began
        calls += 1
        if not reply.deliveries:
            return spent, calls


def measure(url: str, jobs: int, batch: int, runs: int) -> dict[str, Any]:
    conn = connect(url)
    per_job: dict[str, list[float]] = {"plain": [], "rated": []}
    for run in range(runs):
        conn.redis.flushall()
        queues = {"plain": Queue("plain", conn), "rated": Queue("rated", conn)}
        queues["plain"].declare()
        queues["rated"].declare(rate_limit="1000000/s")
        for q in queues.values():
            q.enqueue_many([("bench.tasks:noop", (), {}) for _ in range(jobs)])
        for name in ("plain", "rated") if run % 2 == 0 else ("rated", "plain"):  # neither always first
            spent, _ = drain(queues[name], batch)
            per_job[name].append(spent / jobs * 1e6)
    conn.close()
    plain, rated = (statistics.median(per_job[n]) for n in ("plain", "rated"))
    return {
        "jobs": jobs,
        "batch": batch,
        "runs": runs,
        "plain_claim_us_per_job": round(plain, 2),
        "rated_claim_us_per_job": round(rated, 2),
        "rated_over_plain": round(rated / plain, 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ratelimit", description=__doc__)
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=8, help="jobs per claim (a default worker's slots)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    with EmbeddedServer() as server:
        result = measure(server.url, args.jobs, args.batch, args.runs)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(
            f"\nRate-limited claim: {result['rated_claim_us_per_job']} us per job against "
            f"{result['plain_claim_us_per_job']} us for a plain one ({result['rated_over_plain']}x; "
            f"claims of {args.batch}, {args.jobs} jobs, median of {args.runs})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
