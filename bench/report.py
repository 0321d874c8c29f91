"""Tables (Markdown pipe tables, readable in a terminal too) and the JSON results file."""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import time
from pathlib import Path
from typing import Any

from .aio_enqueue import FIELDS as AIO_FIELDS
from .aio_enqueue import SHOWN as AIO_SHOWN
from .executors import FIELDS as EXECUTOR_FIELDS
from .executors import SHOWN as EXECUTOR_SHOWN
from .plan import Step
from .procs import ROOT

RESULTS = ROOT / "bench" / "results"

STEP_LABELS = {
    "enqueue_one": "enqueue, one call at a time",
    "enqueue_batch": "enqueue, batched",
    "memory_queued": "Redis memory per queued no-arg job",
    "memory_queued_payload": "Redis memory per queued small-payload job",
    "drain_default": "drain, default `rqueues worker`",
    "drain_c1": "drain, 1 process x 1 slot",
    "drain_c8": "drain, 1 process x 8 slots",
    "drain_c32": "drain, 1 process x 32 slots",
    "drain_payload": "drain small-payload jobs, default worker",
    "latency_idle": "enqueue-to-start, idle worker, 0-500 ms gaps",
    "latency_load": "enqueue-to-start, 2,000 jobs/s of load",
    "latency_floor": "enqueue-to-start, bare BLPOP consumers (the machine's floor)",
    "flat": "cost in queue length (long / short backlog)",
    "scaling": "scaling, default worker processes",
    "listing": "list 50 succeeded jobs",
    "capped_noop": "capped queue (cap 4), no-op jobs, 8 slots",
    "capped_sleep": "capped queue (cap 4), 5 ms jobs, 8 slots",
    "rate_limited": "rate-limited claim vs plain",
    "executors": "drain per executor",
    "aio_enqueue": "enqueue, asyncio client beside the blocking one",
}
#: field -> (unit, format)
FIELDS = {
    "rate": ("jobs/s", "{:,.0f}"),
    "bytes": ("B/job", "{:,.0f}"),
    "p50_ms": ("ms p50", "{:.2f}"),
    "p99_ms": ("ms p99", "{:.2f}"),
    "list_ms": ("ms per listing", "{:,.1f}"),
    "claim_ratio": ("x claim cost", "{:.2f}"),
    "enqueue_ratio": ("x enqueue cost", "{:.2f}"),
    "claim_us_small": ("us claim, short backlog", "{:.0f}"),
    "claim_us_large": ("us claim, long backlog", "{:.0f}"),
    "enqueue_us_small": ("us enqueue, short backlog", "{:.0f}"),
    "enqueue_us_large": ("us enqueue, long backlog", "{:.0f}"),
    "waiting_large": ("jobs in the long backlog", "{:,.0f}"),
    "records": ("finished records", "{:,.0f}"),
    "timed_out": ("timed out", "{:.0f}"),
    "enqueue_rate": ("jobs/s enqueued one at a time", "{:,.0f}"),
    "commands_per_job": ("commands/job (enqueue + work)", "{:.1f}"),
    "work_commands_per_job": ("commands/job (work)", "{:.1f}"),
    "round_trips_per_job": ("round trips/job (work)", "{:.2f}"),
    "enqueue_round_trips_per_job": ("round trips/job (enqueue)", "{:.2f}"),
    "worker_cpu_us_per_job": ("us worker CPU/job", "{:.0f}"),
    "redis_cpu_us_per_job": ("us Redis CPU/job", "{:.0f}"),
    "redis_cpu_share": ("cores Redis", "{:.2f}"),
    "worker_cpu_share": ("cores busiest worker", "{:.2f}"),
    "workers_cpu_share": ("cores all workers", "{:.2f}"),
    "machine_cpu_share": ("of the machine busy", "{:.0%}"),
    "rss_mib": ("MiB RSS", "{:.0f}"),
    "record_bytes": ("B/finished record", "{:,.0f}"),
    "idle_requests_per_s": ("idle requests/s", "{:,.0f}"),
}
#: The figures a kind's row shows beside its main one (the JSON file has them all).
ALSO = {
    "drain": [
        "commands_per_job", "round_trips_per_job", "worker_cpu_us_per_job", "redis_cpu_us_per_job",
        "record_bytes", "rss_mib",
    ],
    "latency": ["p99_ms", "idle_requests_per_s"],
    "flat": ["claim_us_small", "claim_us_large", "enqueue_ratio", "enqueue_us_small", "enqueue_us_large"],
    "listing": ["records", "timed_out"],
}  # fmt: skip
MAIN = {
    "enqueue": "rate",
    "memory": "bytes",
    "drain": "rate",
    "latency": "p50_ms",
    "flat": "claim_ratio",
    "scaling": "rate_1p",
    "listing": "list_ms",
}
PER_PROCESSES = re.compile(r"(.+)_(\d+)p$")
# The executors' row (bench/executors.py): its figures are named per executor.
FIELDS.update(EXECUTOR_FIELDS)
ALSO["executors"] = EXECUTOR_SHOWN
MAIN["executors"] = "thread_rate"
FIELDS.update(AIO_FIELDS)
FIELDS.update({
    "plain_claim_us_per_job": ("us claim/job, plain", "{:.1f}"),
    "rated_claim_us_per_job": ("us claim/job, rate-limited", "{:.1f}"),
    "rated_over_plain": ("x rate-limited/plain", "{:.2f}"),
})  # fmt: skip
ALSO["aio_enqueue"] = AIO_SHOWN
MAIN["aio_enqueue"] = "sync_one_rate"
ALSO["rate_limited"] = ["plain_claim_us_per_job", "rated_claim_us_per_job"]
FIELDS.update({
    f"{mode}_{p}_ms": (f"ms {p} {text}", "{:.2f}")
    for mode, text in (("bare", "bare"), ("round_trip", "+1 round trip"), ("hand_off", "+round trip +thread"))
    for p in ("p50", "p99")
})  # fmt: skip
MAIN["floor"] = "bare_p50_ms"
ALSO["floor"] = ["bare_p99_ms", "round_trip_p50_ms", "hand_off_p50_ms", "hand_off_p99_ms"]
MAIN["rate_limited"] = "rated_over_plain"


def unit(field: str) -> tuple[str, str]:
    """(unit, format) of a field; scaling's ``rate_2p`` is ``rate`` with 2 processes."""
    if field in FIELDS:
        return FIELDS[field]
    m = PER_PROCESSES.match(field)
    procs = "" if not m else f"{m[2]} process" + ("es" if m[2] != "1" else "")
    if m and m[1] == "speedup":
        return f"x with {procs}", "{:.2f}"
    if m and m[1] in FIELDS:
        text, form = FIELDS[m[1]]
        return f"{text}, {procs}", form
    return "", "{:.3g}"


def fmt(field: str, value: float | None) -> str:
    if value is None:
        return "-"
    text = unit(field)[1].format(value)
    return text[1:] if text.startswith("-") and not text.strip("-0.,%") else text  # no "-0"


def median(result: dict[str, Any] | None, field: str) -> float | None:
    value = (result or {}).get(field)
    return float(value["median"]) if isinstance(value, dict) and "median" in value else None


def table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    return "\n".join([line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)])


def system_table(steps: list[Step], results: dict[str, Any]) -> str:
    """One row per step: the main figure, its spread over the runs, the other figures."""
    rows = []
    for step in steps:
        if step.key not in results:
            continue
        result = results[step.key]
        label = STEP_LABELS.get(step.key, step.key)
        if not any(isinstance(v, dict) and "median" in v for v in result.values()):
            rows.append([label, result.get("error") or result.get("skipped") or "-", "", ""])
            continue
        main = MAIN[step.what]
        value = median(result, main)
        spread = f"{fmt(main, result[main]['min'])} - {fmt(main, result[main]['max'])}"
        shown = ALSO.get(step.what) or [f for f in result if f.startswith(("rate_", "speedup_"))]
        others = [f"{fmt(f, median(result, f))} {unit(f)[0]}" for f in shown if f != main and f in result]
        if step.key == "capped_sleep":
            ideal = step.kwargs["cap"] / step.kwargs["sleep"]
            others.insert(0, f"{(value or 0) / ideal:.0%} of the cap's {ideal:,.0f} jobs/s")
        pooled = result.get("details", {})
        if "pooled_p99_ms" in pooled:
            others.append(f"{pooled['pooled_p99_ms']:.2f} ms p99 of all {pooled['probes']} probes")
        rows.append([label, f"{fmt(main, value)} {unit(main)[0]}", spread, "; ".join(others)])
    return table(["measurement", "median of runs", "runs (min - max)", "also measured"], rows)


def scaling_lines(result: dict[str, Any] | None) -> list[str]:
    """The scaling curve, where it bends and which resource ran out there."""
    procs = sorted(int(m[2]) for f in (result or {}) if (m := PER_PROCESSES.match(f)) and m[1] == "rate")
    if not procs:
        return []
    lines = ["Scaling (default worker processes against one Redis; medians of runs):"]
    bend = None
    for p in procs:
        rate = median(result, f"rate_{p}p") or 0.0
        speedup = median(result, f"speedup_{p}p") or 1.0
        redis_cpu = median(result, f"redis_cpu_share_{p}p") or 0.0
        worker = median(result, f"worker_cpu_share_{p}p") or 0.0
        workers = median(result, f"workers_cpu_share_{p}p") or worker
        machine = median(result, f"machine_cpu_share_{p}p") or 0.0
        what = saturated(redis_cpu, worker, machine)
        ours = (redis_cpu + workers) / (os.cpu_count() or 1)
        lines.append(
            f"- {unit(f'rate_{p}p')[0].split(', ')[1]}: {rate:,.0f} jobs/s ({speedup:.2f}x); "
            f"Redis {redis_cpu:.2f} cores, busiest worker {worker:.2f} cores, machine {machine:.0%} busy "
            f"({ours:.0%} Redis and workers) -> {what}"
        )
        if bend is None and p > procs[0] and speedup < 0.75 * p / procs[0]:
            bend = (p, what)
    if bend:
        lines.append(f"- bends at {bend[0]} processes (under 75% of linear): {bend[1]}")
    else:
        lines.append(f"- no bend up to {procs[-1]} processes (each step gave at least 75% of linear)")
    return lines


def saturated(redis_cpu: float, worker: float, machine: float) -> str:
    """Name the resource that ran out: Redis' one core, the machine's cores, or a worker's GIL."""
    if redis_cpu >= 0.85:
        return "Redis' core saturates"
    if machine >= 0.8:
        return f"the machine's {os.cpu_count()} cores saturate"
    if worker >= 0.85:
        return "a worker process' core (the GIL) saturates"
    return "nothing saturates (waits on round trips)"


# -- the results file -------------------------------------------------------


def machine() -> dict[str, Any]:
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
    }


def git_commit() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "rqueues"], cwd=ROOT, capture_output=True, text=True
        )
    except OSError:
        return "?"
    return head.stdout.strip() + (" (rqueues/ modified)" if dirty.stdout.strip() else "")


def write(mode: str, payload: dict[str, Any], path: Path | None = None) -> Path:
    path = path or RESULTS / f"{mode}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2))
    return path
