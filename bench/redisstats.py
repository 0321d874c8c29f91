"""What Redis itself says about a workload: round trips, commands, memory."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis


@dataclass(frozen=True)
class Snapshot:
    reads: int  # read events on client sockets: one per request or pipeline sent
    calls: dict[str, int]  # command -> calls, commands run inside Lua included
    used_memory: int
    cpu: float  # seconds of CPU the server has used


def snapshot(r: redis.Redis) -> Snapshot:
    stats: Any = r.info("stats")
    cmds: Any = r.info("commandstats")
    mem: Any = r.info("memory")
    cpu: Any = r.info("cpu")
    calls = {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in cmds.items()}
    used = float(cpu["used_cpu_sys"]) + float(cpu["used_cpu_user"])
    return Snapshot(int(stats["total_reads_processed"]), calls, int(mem["used_memory"]), used)


def per_job(before: Snapshot, after: Snapshot, jobs: int) -> dict[str, Any]:
    """Round trips and commands per job between two snapshots.

    The snapshots' own INFO calls are left out; the benchmark's few other
    calls (a couple of BLPOPs) are noise against thousands of jobs.
    """
    calls = {
        name: n - before.calls.get(name, 0)
        for name, n in after.calls.items()
        if name != "info" and n > before.calls.get(name, 0)
    }
    total = sum(calls.values())
    top = sorted(calls.items(), key=lambda kv: -kv[1])[:8]
    return {
        # Four INFO requests per snapshot are reads we made ourselves.
        "round_trips_per_job": (after.reads - before.reads - 4) / jobs,
        "redis_cpu_us_per_job": (after.cpu - before.cpu) * 1e6 / jobs,
        "commands_per_job": total / jobs,
        "top_commands_per_job": {name: round(n / jobs, 3) for name, n in top},
    }


def server_version(r: redis.Redis) -> str:
    info: Any = r.info("server")
    return str(info.get("redis_version", "?"))
