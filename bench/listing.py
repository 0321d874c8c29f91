"""Listing cost: the library's own listing call with many finished records in Redis.

rqueues only. The records are not invented here: one real job is run through a
default worker first, and whatever it left behind (its record hash, and its
entry in any sorted set that indexes it, such as a finished index) is copied
``records`` times by a Lua loop, with ids and times shifted back by a
millisecond each. So when the library adds or changes an index, the same step
fills it and measures the listing that reads it. The listing runs in a child
process with a time bound (today it reads every record, which at a million is
slow and large):

    python -m bench.listing URL QUEUE STATE LIMIT MAX_SECONDS   # the child; prints JSON
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from typing import Any

import redis

from .procs import ROOT
from .workload import Bench

#: Copies written per script call (each call blocks Redis for a few ms only).
CHUNK = 5000
#: The child repeats the listing (at most 20 times) while this many seconds last.
CALLS_SECONDS = 5.0
#: Hash fields holding a time in ms: shifted back with the copy's id.
TIME_FIELDS = ("enqueued_at", "started_at", "finished_at")

SEED = """
local prefix, suffix, first, count = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local base, ttl, template_id, nfields = tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7], tonumber(ARGV[8])
local at = 9 + 3 * nfields
for i = first, first + count - 1 do
    local id = string.format('%012x%010x', base - i, i)
    local key = prefix .. id .. suffix
    local row = {}
    for f = 0, nfields - 1 do
        local name, value, shift = ARGV[9 + 3 * f], ARGV[10 + 3 * f], ARGV[11 + 3 * f]
        if value == template_id then value = id
        elseif shift == '1' then value = string.format('%d', tonumber(value) - i) end
        row[#row + 1] = name
        row[#row + 1] = value
    end
    redis.call('HSET', key, unpack(row))
    if ttl > 0 then redis.call('PEXPIRE', key, ttl) end
    for k = 1, #KEYS do
        redis.call('ZADD', KEYS[k], tonumber(ARGV[at + k - 1]) - i, id)
    end
end
return count
"""


def listing(bench: Bench, records: int, state: str, limit: int, bound: float) -> dict[str, float]:
    """Median ms of ``list_jobs(conn, [queue], state, limit)`` with ``records`` finished jobs."""
    from .peers.rqueues import QUEUE

    template = learn(bench)
    t0 = time.monotonic()
    seed(bench.r, template, records, time.monotonic() + bound)
    seeded = time.monotonic() - t0
    found = run_child(bench.url, QUEUE, state, limit, bound)
    if found["listed"] < limit:
        raise RuntimeError(
            f"the listing returned {found['listed']} of {limit} {state} jobs: the seeded records "
            "do not match what the library reads (see bench/listing.py)"
        )
    return {
        "list_ms": statistics.median(found["ms"]) if found["ms"] else bound * 1000,
        "first_list_ms": found["ms"][0] if found["ms"] else bound * 1000,
        "calls": float(len(found["ms"])),
        "timed_out": float(found["timed_out"]),
        "records": float(records),
        "seed_seconds": seeded,
    }


def learn(bench: Bench) -> dict[str, Any]:
    """Run one job through a default worker; what it left in Redis is the template."""
    bench.reset()
    bench.a.enqueue("noop", ())
    job_id = bench.a._last[-1]  # type: ignore[attr-defined]
    with bench.workers(None):
        bench.a.settled(time.monotonic() + bench.timeout)
    r = bench.r
    record_key = bench.a.keys.job(job_id)  # type: ignore[attr-defined]
    prefix, _, suffix = record_key.partition(job_id)
    indexes = {}
    for raw in r.scan_iter(count=1000):
        key = raw.decode() if isinstance(raw, bytes) else str(raw)
        if key == record_key:
            continue
        kind = r.type(key)
        if job_id in key:
            raise RuntimeError(f"the job left {key!r} ({kind!r}): teach bench/listing.py to copy it")
        if kind == b"zset" and (score := r.zscore(key, job_id)) is not None:
            indexes[key] = score
    fields: dict[bytes, bytes] = r.hgetall(record_key)  # type: ignore[assignment]
    return {
        "id": job_id,
        "prefix": prefix,
        "suffix": suffix,
        "ttl_ms": max(0, r.pttl(record_key)),
        "base_ms": int(fields.get(b"finished_at") or time.time() * 1000),
        "fields": fields,
        "indexes": indexes,
    }


def seed(r: redis.Redis, template: dict[str, Any], records: int, deadline: float) -> None:
    script = r.register_script(SEED)
    fields: list[Any] = []
    for name, value in template["fields"].items():
        fields += [name, value, "1" if name.decode() in TIME_FIELDS else "0"]
    head = [template["prefix"], template["suffix"]]
    tail = [template["base_ms"], template["ttl_ms"], template["id"], len(template["fields"]), *fields]
    tail += list(template["indexes"].values())
    keys = list(template["indexes"])
    for first in range(1, records + 1, CHUNK):
        if time.monotonic() > deadline:
            raise TimeoutError(f"seeding {records:,} records took longer than the bound")
        script(keys=keys, args=[*head, first, min(CHUNK, records + 1 - first), *tail])


def run_child(url: str, queue: str, state: str, limit: int, bound: float) -> dict[str, Any]:
    """Time the listing in a child process, killed at ``bound`` seconds."""
    budget = min(CALLS_SECONDS, bound / 2)
    argv = [sys.executable, "-m", "bench.listing", url, queue, state, str(limit), str(budget)]
    try:
        proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=bound)
    except subprocess.TimeoutExpired:
        return {"ms": [], "listed": limit, "timed_out": True}
    if proc.returncode != 0:
        raise RuntimeError(f"the listing child failed: {proc.stderr.strip()[-400:]}")
    return {**json.loads(proc.stdout.strip().splitlines()[-1]), "timed_out": False}


def child(url: str, queue: str, state: str, limit: int, max_seconds: float) -> dict[str, Any]:
    """Call the listing up to 20 times or for ``max_seconds``; each call's ms and the count."""
    from rqueues import connect
    from rqueues.observe.listing import list_jobs

    conn = connect(url)
    times: list[float] = []
    listed = 0
    stop = time.monotonic() + max_seconds
    while len(times) < 20 and (not times or time.monotonic() < stop):
        t0 = time.perf_counter()
        listed = len(list_jobs(conn, [queue], state, limit))
        times.append((time.perf_counter() - t0) * 1000)
    return {"ms": times, "listed": listed}


if __name__ == "__main__":
    url, queue, state, limit, seconds = sys.argv[1:6]
    print(json.dumps(child(url, queue, state, int(limit), float(seconds))))
