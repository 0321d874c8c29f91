"""The executors side by side: a no-op drain and idle enqueue-to-start latency for each.

The same workload as the drain and latency steps, with the benchmark queue declared
with each executor in turn: ``thread`` (the default), ``process`` (one child per
slot, each job a hop over a pipe and back) and ``asyncio`` (``async def`` bodies on
the worker's event loop). One default worker process, its default slots.
"""

from __future__ import annotations

from typing import Any

from .workload import Bench

#: rqueues.defaults.EXECUTORS, spelled out: the report imports this module where
#: rqueues may not be installed (a peer's environment).
KINDS = ("thread", "process", "asyncio")
#: The report's unit and format of each figure, and the ones a row shows.
FIELDS = {
    **{f"{k}_rate": (f"jobs/s {k}", "{:,.0f}") for k in KINDS},
    **{f"{k}_latency_p50_ms": (f"ms p50 {k}", "{:.2f}") for k in KINDS},
    **{f"{k}_latency_p99_ms": (f"ms p99 {k}", "{:.2f}") for k in KINDS},
}
SHOWN = [f"{k}_{f}" for k in KINDS for f in ("rate", "latency_p50_ms", "latency_p99_ms")]


def executor_rows(bench: Bench, n: int, probes: int) -> dict[str, float]:
    """``KIND_rate`` (jobs/s) and ``KIND_latency_p50_ms``/``_p99_ms`` per executor."""
    adapter: Any = bench.a
    out: dict[str, float] = {}
    try:
        for kind in KINDS:
            adapter.executor = kind
            adapter.module = "bench.async_tasks" if kind == "asyncio" else "bench.tasks"
            out[f"{kind}_rate"] = bench.drain(n, batched=True)["rate"]
            latency = bench.latency(probes)
            out[f"{kind}_latency_p50_ms"] = latency["p50_ms"]
            out[f"{kind}_latency_p99_ms"] = latency["p99_ms"]
    finally:
        adapter.executor, adapter.module = "thread", "bench.tasks"
    return out
