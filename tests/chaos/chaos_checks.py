"""Checks and figures shared by the chaos tests: leftovers in Redis, release times, reporting."""

from __future__ import annotations

import json
from typing import Any

from rqueues import Connection
from rqueues.backend.keys import GROUP


def leaks(conn: Connection, queues: list[str]) -> dict[str, int]:
    """What a finished run must not leave behind, counted over ``queues`` (all should be 0)."""
    r = conn.redis
    out = {"leases": 0, "pending": 0, "scheduled": 0, "stream_entries": 0, "consumers": 0}
    for name in queues:
        keys = conn.keys.queue(name)
        out["leases"] += r.zcard(keys.leases)
        out["pending"] += r.xpending(keys.stream, GROUP)["pending"]
        out["scheduled"] += r.zcard(keys.scheduled)
        out["stream_entries"] += r.xlen(keys.stream)
        out["consumers"] += len(r.xinfo_consumers(keys.stream, GROUP))
    out["registered_workers"] = r.zcard(conn.keys.workers)
    return out


def release_times(conn: Connection, queue: str) -> dict[str, list[float]]:
    """When each job's lease was given back (reaper or hand-back), from the 'released'
    entries the capped queue's events stream carries; seconds since the epoch."""
    out: dict[str, list[float]] = {}
    for entry, fields in conn.redis.xrange(conn.keys.queue(queue).events):
        job = fields.get(b"released")
        if job is not None:
            out.setdefault(job.decode(), []).append(int(entry.split(b"-")[0]) / 1000)
    return out


def report(figures: dict[str, Any], name: str, values: dict[str, Any]) -> None:
    """Keep a test's figures for the summary file and print them (pytest -s shows them)."""
    figures[name] = values
    print(f"\n[chaos] {name}: {json.dumps(values, sort_keys=True)}")
