"""Which measurements each mode runs, how often, and how results are summarized.

A step's kind (``what``) names one measurement:

- enqueue: jobs/s of one client, one call at a time or batched.
- memory: Redis used_memory per queued job.
- drain: a backlog drained by fresh worker processes: rate, commands and round
  trips per job (enqueue plus work), CPU, memory per finished record.
- latency: enqueue to the job's first statement on an idle worker, random gaps.
- scaling: drain rate with 1, 2, 4 worker processes and which CPU ran out.
- flat: one enqueue and one claim with a short and a long backlog (rqueues).
- listing: the library's listing call over many finished records (rqueues).
- executors: a no-op drain and idle latency per executor (bench/executors.py).
- rate_limited: a claim on a rate-limited queue against a plain one (bench/ratelimit.py).
- aio_enqueue: the asyncio client's enqueue rates beside the blocking client's.
- floor: enqueue-to-start of bare BLPOP consumers, the machine's floor (bench/floor.py).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .peers import PEERS as PEER_NAMES
from .workload import Bench, percentile


@dataclass(frozen=True)
class Step:
    key: str
    what: str  # a key of MEASURES
    runs: int
    kwargs: dict[str, Any] = field(default_factory=dict)
    #: Only for systems that run several jobs at once in one process.
    concurrent_only: bool = False
    #: The systems that run it (None: every system).
    systems: tuple[str, ...] | None = None


class Skip(Exception):
    """A step that does not apply to this system or this version of it."""


RQUEUES = ("rqueues",)
DRAIN_DEFAULT = Step("drain_default", "drain", 3, {"n": 10_000})
FLAT_1M = {"small": 1_000, "large": 1_000_000, "samples": 500, "bound": 120}
DRAIN_C32 = Step("drain_c32", "drain", 3, {"n": 10_000, "concurrency": 32}, concurrent_only=True)

QUICK = [
    Step("enqueue_one", "enqueue", 3, {"n": 3_000, "batched": False}),
    Step("enqueue_batch", "enqueue", 3, {"n": 30_000, "batched": True}),
    Step("memory_queued", "memory", 3, {"n": 20_000}),
    DRAIN_DEFAULT,
    DRAIN_C32,
    Step("latency_idle", "latency", 3, {"probes": 30}),
    Step("latency_floor", "floor", 1, {"probes": 30}, systems=RQUEUES),
    Step("flat", "flat", 3, {"small": 1_000, "large": 100_000, "samples": 300, "bound": 60}, systems=RQUEUES),
    Step("scaling", "scaling", 3, {"n": 10_000, "processes": (1, 2)}, systems=RQUEUES),
    Step("listing", "listing", 1, {"records": 100_000, "bound": 60}, systems=RQUEUES),
    Step("executors", "executors", 1, {"n": 3_000, "probes": 20}, systems=RQUEUES),
    Step("aio_enqueue", "aio_enqueue", 3, {"one": 3_000, "batch": 30_000}, systems=RQUEUES),
    Step("rate_limited", "rate_limited", 1, {"n": 10_000}, systems=RQUEUES),
]

FULL = [
    Step("enqueue_one", "enqueue", 5, {"n": 10_000, "batched": False}),
    Step("enqueue_batch", "enqueue", 5, {"n": 100_000, "batched": True}),
    Step("memory_queued", "memory", 3, {"n": 100_000}),
    Step("memory_queued_payload", "memory", 3, {"n": 100_000, "kind": "payload"}),
    Step("drain_default", "drain", 5, {"n": 50_000}),
    Step("drain_c1", "drain", 3, {"n": 10_000, "concurrency": 1}),
    Step("drain_c32", "drain", 5, {"n": 50_000, "concurrency": 32}),
    Step("drain_payload", "drain", 3, {"n": 50_000, "kind": "payload"}),
    Step("latency_idle", "latency", 5, {"probes": 100}),
    Step("latency_floor", "floor", 1, {"probes": 100}, systems=RQUEUES),
    Step("latency_load", "latency", 3, {"probes": 100, "load_rate": 2000}),
    Step("flat", "flat", 3, FLAT_1M),
    Step("scaling", "scaling", 3, {"n": 50_000, "processes": (1, 2, 4)}),
    Step("listing", "listing", 1, {"records": 1_000_000, "bound": 180}),
    Step("capped_noop", "drain", 3, {"n": 20_000, "concurrency": 8, "cap": 4, "batched": True}),
    Step(
        "capped_sleep",
        "drain",
        3,
        {"n": 2_000, "concurrency": 8, "cap": 4, "sleep": 0.005, "batched": True},
    ),
    Step("rate_limited", "rate_limited", 3, {"n": 10_000}),
    Step("executors", "executors", 3, {"n": 10_000, "probes": 50}),
]

#: The same workload for every system of the side-by-side run; rqueues' own figures
#: (flat cost, scaling, listing) at full size.
PEERS = [
    Step("enqueue_one", "enqueue", 3, {"n": 3_000, "batched": False}),
    Step("enqueue_batch", "enqueue", 3, {"n": 20_000, "batched": True}),
    Step("memory_queued", "memory", 3, {"n": 20_000}),
    Step("drain_default", "drain", 3, {"n": 10_000}, systems=RQUEUES),
    # A peer's best single-process mode: the better of 8 and 32 slots.
    Step("drain_c8", "drain", 3, {"n": 10_000, "concurrency": 8}, systems=PEER_NAMES),
    DRAIN_C32,
    Step("latency_idle", "latency", 3, {"probes": 60}),
    Step("latency_floor", "floor", 1, {"probes": 60}, systems=RQUEUES),
    Step("flat", "flat", 3, FLAT_1M, systems=RQUEUES),
    Step("scaling", "scaling", 3, {"n": 20_000, "processes": (1, 2, 4)}, systems=RQUEUES),
    Step("listing", "listing", 1, {"records": 1_000_000, "bound": 180}, systems=RQUEUES),
]

PLANS = {"quick": QUICK, "full": FULL, "peers": PEERS}
#: Kinds that measure the library's own calls: rqueues only, whatever the plan says.
LIBRARY_ONLY = {"flat", "listing", "rate_limited", "executors", "aio_enqueue", "floor"}


def _enqueue(bench: Bench, **kw: Any) -> dict[str, float]:
    rate = bench.enqueue_rate(**kw)
    if rate is None:
        raise Skip("no batched enqueue")
    return {"rate": rate}


def _drain(bench: Bench, **kw: Any) -> dict[str, float]:
    return {k: v for k, v in bench.drain(**kw).items() if isinstance(v, (int, float))}


def _flat(bench: Bench, **kw: Any) -> dict[str, float]:
    from .flat import flat_cost

    return flat_cost(bench, **kw)


def _listing(bench: Bench, **kw: Any) -> dict[str, float]:
    from .listing import listing

    return listing(bench, state="succeeded", limit=50, **kw)


def _declares(setting: str) -> bool:
    """Whether a queue can be declared with ``setting`` in this version of the library."""
    from dataclasses import fields

    from rqueues.config import QueueConfig

    return setting in {f.name for f in fields(QueueConfig)}


def _rate_limited(bench: Bench, **kw: Any) -> dict[str, float]:
    """A claim on a rate-limited queue against a plain one, once queues can have a rate limit."""
    if not _declares("rate_limit"):
        raise Skip("this version has no rate-limited queues")
    from .ratelimit import measure

    found = measure(bench.url, kw["n"], batch=8, runs=1)  # claims of a default worker's 8 slots
    return {k: float(v) for k, v in found.items() if k.endswith(("us_per_job", "over_plain"))}


def _aio_enqueue(bench: Bench, **kw: Any) -> dict[str, float]:
    try:
        import rqueues.aio  # noqa: F401
    except ImportError:
        raise Skip("this version has no asyncio client") from None
    from .aio_enqueue import aio_enqueue_rows

    return {k: float(v) for k, v in aio_enqueue_rows(bench, **kw).items()}


def _floor(bench: Bench, **kw: Any) -> dict[str, float]:
    from .floor import floor_rows

    return floor_rows(bench, **kw)


def _executors(bench: Bench, **kw: Any) -> dict[str, float]:
    """A drain row per executor (thread, process, ...), once a queue can choose its executor."""
    if not _declares("executor"):
        raise Skip("this version has only the thread executor")
    from .executors import executor_rows

    return executor_rows(bench, **kw)


MEASURES: dict[str, Callable[..., dict[str, float]]] = {
    "enqueue": _enqueue,
    "memory": lambda bench, **kw: {"bytes": bench.queued_memory(**kw)},
    "drain": _drain,
    "latency": lambda bench, **kw: bench.latency(**kw),
    "scaling": lambda bench, **kw: bench.scaling(**kw),
    "flat": _flat,
    "listing": _listing,
    "rate_limited": _rate_limited,
    "executors": _executors,
    "aio_enqueue": _aio_enqueue,
    "floor": _floor,
}


def select(steps: list[Step], only: list[str]) -> list[Step]:
    """The steps named in ``only`` (all when it is empty), in the plan's order."""
    return [s for s in steps if not only or s.key in only]


def applies(bench: Bench, step: Step) -> str | None:
    """Why ``step`` does not run for this system, or None."""
    if step.what in LIBRARY_ONLY and bench.a.name != "rqueues":
        return "rqueues only"
    if step.concurrent_only and not bench.a.concurrent:
        return "runs one job at a time"
    return None


def execute(bench: Bench, steps: list[Step], log: Callable[[str], None]) -> dict[str, Any]:
    """Run every step ``runs`` times; a failing step is reported, the others still run."""
    out: dict[str, Any] = {}
    for step in steps:
        if step.systems is not None and bench.a.name not in step.systems:
            continue
        if (why := applies(bench, step)) is not None:
            out[step.key] = {"skipped": why}
            continue
        t0 = time.monotonic()
        runs: list[dict[str, float]] = []
        details: dict[str, Any] = {}
        samples: list[float] = []
        try:
            for _ in range(step.runs):
                runs.append(MEASURES[step.what](bench, **step.kwargs))
                details = bench.last_details if step.what == "drain" else details
                samples += bench.last_samples if step.what == "latency" else []
        except Skip as why:
            out[step.key] = {"skipped": str(why)}
            continue
        except Exception as exc:  # reported in the table; the next step still runs
            out[step.key] = {"error": f"{type(exc).__name__}: {exc}"[:400]}
            log(f"  {step.key}: FAILED {out[step.key]['error']}")
            continue
        if samples:
            details = {"probes": len(samples), "pooled_p50_ms": percentile(samples, 50)}
            details["pooled_p99_ms"] = percentile(samples, 99)
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
