"""Which measurements each mode runs, how often, and how results are summarized."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .workload import Bench


@dataclass(frozen=True)
class Step:
    key: str
    what: str  # enqueue | memory | drain | latency
    runs: int
    kwargs: dict[str, Any] = field(default_factory=dict)
    #: Only for systems that run several jobs at once in one process.
    concurrent_only: bool = False


QUICK = [
    Step("enqueue_one", "enqueue", 3, {"n": 3_000, "batched": False}),
    Step("enqueue_batch", "enqueue", 3, {"n": 30_000, "batched": True}),
    Step("memory_queued", "memory", 3, {"n": 20_000}),
    Step("drain_c8", "drain", 3, {"n": 20_000, "concurrency": 8}),
    Step("drain_c32", "drain", 3, {"n": 20_000, "concurrency": 32}),
    Step("latency_idle", "latency", 3, {"probes": 200, "concurrency": 8}),
]

FULL = [
    Step("enqueue_one", "enqueue", 5, {"n": 10_000, "batched": False}),
    Step("enqueue_batch", "enqueue", 5, {"n": 100_000, "batched": True}),
    Step("memory_queued", "memory", 3, {"n": 100_000}),
    Step("memory_queued_payload", "memory", 3, {"n": 100_000, "kind": "payload"}),
    Step("drain_c1", "drain", 3, {"n": 10_000, "concurrency": 1}),
    Step("drain_c8", "drain", 5, {"n": 50_000, "concurrency": 8}),
    Step("drain_c32", "drain", 5, {"n": 50_000, "concurrency": 32}),
    Step("drain_2p_c32", "drain", 5, {"n": 50_000, "concurrency": 32, "processes": 2}),
    Step("drain_payload_c32", "drain", 5, {"n": 50_000, "concurrency": 32, "kind": "payload"}),
    Step("latency_idle", "latency", 5, {"probes": 500, "concurrency": 8}),
    Step("latency_load", "latency", 3, {"probes": 500, "concurrency": 8, "load_rate": 2000}),
    Step("capped_noop", "drain", 3, {"n": 20_000, "concurrency": 8, "cap": 4}),
    Step("capped_sleep", "drain", 3, {"n": 2_000, "concurrency": 8, "cap": 4, "sleep": 0.005}),
]

#: The same workload for every system of the side-by-side run.
PEERS = [
    Step("enqueue_one", "enqueue", 3, {"n": 3_000, "batched": False}),
    Step("enqueue_batch", "enqueue", 3, {"n": 20_000, "batched": True}),
    Step("memory_queued", "memory", 1, {"n": 20_000}),
    Step("drain_c8", "drain", 3, {"n": 10_000, "concurrency": 8}),
    Step("drain_c32", "drain", 3, {"n": 10_000, "concurrency": 32}, concurrent_only=True),
    Step("latency_idle", "latency", 3, {"probes": 200, "concurrency": 8}),
]

PLANS = {"quick": QUICK, "full": FULL, "peers": PEERS}


def measure(bench: Bench, step: Step) -> dict[str, float]:
    kw = step.kwargs
    if step.what == "enqueue":
        rate = bench.enqueue_rate(**kw)
        return {} if rate is None else {"rate": rate}
    if step.what == "memory":
        return {"bytes": bench.queued_memory(**kw)}
    if step.what == "drain":
        return {k: v for k, v in bench.drain(**kw).items() if isinstance(v, (int, float))}
    if step.what == "latency":
        return bench.latency(**kw)
    raise ValueError(f"unknown step kind {step.what!r}")


def execute(bench: Bench, steps: list[Step], log: Callable[[str], None]) -> dict[str, Any]:
    """Run every step ``runs`` times; a failing step is reported, the others still run."""
    out: dict[str, Any] = {}
    for step in steps:
        if step.what == "enqueue" and step.kwargs.get("batched") and not bench.a.batch_mode:
            out[step.key] = {"skipped": "no batched enqueue"}
            continue
        if step.concurrent_only and not bench.a.concurrent:
            out[step.key] = {"skipped": "runs one job at a time"}
            continue
        t0 = time.monotonic()
        runs: list[dict[str, float]] = []
        details: dict[str, Any] = {}
        try:
            for _ in range(step.runs):
                runs.append(measure(bench, step))
                if step.what == "drain":
                    details = bench.last_details
        except Exception as exc:  # reported in the table; the next step still runs
            out[step.key] = {"error": f"{type(exc).__name__}: {exc}"[:400]}
            log(f"  {step.key}: FAILED {out[step.key]['error']}")
            continue
        out[step.key] = {**summarize(runs), **({"details": details} if details else {})}
        log(f"  {step.key}: {brief(out[step.key])} ({time.monotonic() - t0:.1f}s)")
    return out


def summarize(runs: list[dict[str, float]]) -> dict[str, Any]:
    fields = {name for run in runs for name in run}
    return {
        name: {
            "median": statistics.median(vals),
            "min": min(vals),
            "max": max(vals),
            "runs": [round(v, 4) for v in vals],
        }
        for name in sorted(fields)
        if (vals := [run[name] for run in runs if name in run])
    }


def brief(result: dict[str, Any]) -> str:
    return ", ".join(
        f"{name} {value['median']:.4g}"
        for name, value in result.items()
        if isinstance(value, dict) and "median" in value
    )
