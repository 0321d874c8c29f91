"""Tables (Markdown pipe tables, readable in a terminal too) and the JSON results file."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

from .plan import Step
from .procs import ROOT

RESULTS = ROOT / "bench" / "results"

STEP_LABELS = {
    "enqueue_one": "enqueue, one by one",
    "enqueue_batch": "enqueue, batched",
    "memory_queued": "Redis memory per queued no-arg job",
    "memory_queued_payload": "Redis memory per queued small-payload job",
    "drain_c1": "drain, 1 process x 1 slot",
    "drain_c8": "drain, 1 process x 8 slots",
    "drain_c32": "drain, 1 process x 32 slots",
    "drain_2p_c32": "drain, 2 processes x 32 slots",
    "drain_payload_c32": "drain small-payload jobs, 1 process x 32 slots",
    "latency_idle": "enqueue-to-start, idle worker",
    "latency_load": "enqueue-to-start, 2,000 jobs/s of load",
    "capped_noop": "capped queue (cap 4), no-op jobs, 8 slots",
    "capped_sleep": "capped queue (cap 4), 5 ms jobs, 8 slots",
}
#: field -> (unit, format)
FIELDS = {
    "rate": ("jobs/s", "{:,.0f}"),
    "bytes": ("B/job", "{:,.0f}"),
    "p50_ms": ("ms p50", "{:.2f}"),
    "p99_ms": ("ms p99", "{:.2f}"),
    "round_trips_per_job": ("round trips/job", "{:.2f}"),
    "commands_per_job": ("commands/job", "{:.1f}"),
    "worker_cpu_us_per_job": ("us worker CPU/job", "{:.0f}"),
    "redis_cpu_us_per_job": ("us Redis CPU/job", "{:.0f}"),
    "rss_mib": ("MiB RSS", "{:.0f}"),
    "record_bytes": ("B/finished record", "{:,.0f}"),
    "idle_requests_per_s": ("idle requests/s", "{:,.0f}"),
}
MAIN = {"enqueue": "rate", "memory": "bytes", "drain": "rate", "latency": "p50_ms"}
#: (step key prefix, field) -> (comparison, bound, text)
TARGETS = {
    ("enqueue_batch", "rate"): (">=", 50_000, ">= 50,000"),
    # One worker process with several slots: the configuration the target is about.
    ("drain_c8", "rate"): (">=", 10_000, ">= 10,000"),
    ("drain_c32", "rate"): (">=", 10_000, ">= 10,000"),
    ("latency_idle", "p50_ms"): ("<=", 1.0, "<= 1 ms"),
}


def fmt(field: str, value: float | None) -> str:
    if value is None:
        return "-"
    return FIELDS.get(field, ("", "{:.3g}"))[1].format(value)


def median(result: dict[str, Any], field: str) -> float | None:
    value = result.get(field)
    return value["median"] if isinstance(value, dict) and "median" in value else None


def target(key: str, field: str) -> tuple[str, float, str] | None:
    for (prefix, f), t in TARGETS.items():
        if f == field and key.startswith(prefix):
            return t
    return None


def met(value: float | None, t: tuple[str, float, str] | None) -> str:
    if t is None or value is None:
        return ""
    ok = value >= t[1] if t[0] == ">=" else value <= t[1]
    return "met" if ok else "MISSED"


def table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    return "\n".join([line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)])


def system_table(steps: list[Step], results: dict[str, Any]) -> str:
    """One row per step: the main figure, its spread over the runs, the target, the other figures."""
    rows = []
    for step in steps:
        result = results.get(step.key, {})
        label = STEP_LABELS.get(step.key, step.key)
        if not any(isinstance(v, dict) and "median" in v for v in result.values()):
            rows.append([label, result.get("error") or result.get("skipped") or "-", "", "", "", ""])
            continue
        main = MAIN[step.what]
        value = median(result, main)
        spread = f"{fmt(main, result[main]['min'])} - {fmt(main, result[main]['max'])}"
        t = target(step.key, main)
        others = [f"{fmt(f, median(result, f))} {FIELDS[f][0]}" for f in FIELDS if f != main and f in result]
        if step.key == "capped_sleep":
            ideal = step.kwargs["cap"] / step.kwargs["sleep"]
            others.insert(0, f"{(value or 0) / ideal:.0%} of the cap's {ideal:,.0f} jobs/s")
        rows.append(
            [
                label,
                f"{fmt(main, value)} {FIELDS[main][0]}",
                spread,
                t[2] if t else "",
                met(value, t),
                "; ".join(others),
            ]
        )
    return table(["measurement", "median", "runs (min - max)", "target", "", "also measured"], rows)


# -- side by side -------------------------------------------------------------

#: (label, step, field, higher is better)
PEER_ROWS = [
    ("enqueue one by one, jobs/s", "enqueue_one", "rate", True),
    ("enqueue batched, jobs/s", "enqueue_batch", "rate", True),
    ("drain, 1 worker process, jobs/s", "drain", "rate", True),
    ("enqueue-to-start p50, idle, ms", "latency_idle", "p50_ms", False),
    ("enqueue-to-start p99, idle, ms", "latency_idle", "p99_ms", False),
    ("idle worker requests to Redis/s", "latency_idle", "idle_requests_per_s", False),
    ("round trips per job (drain)", "drain", "round_trips_per_job", False),
    ("Redis commands per job (drain, incl. Lua)", "drain", "commands_per_job", False),
    ("worker CPU per job (drain), us", "drain", "worker_cpu_us_per_job", False),
    ("Redis CPU per job (drain), us", "drain", "redis_cpu_us_per_job", False),
    ("Redis memory per queued no-arg job, B", "memory_queued", "bytes", False),
    ("worker RSS after the drain, MiB", "drain", "rss_mib", False),
]


def best_drain(system: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """The 1-process drain with the highest rate (each system at its best concurrency)."""
    steps = system.get("steps", {})
    drains = [(k, v) for k, v in steps.items() if k.startswith("drain_") and median(v, "rate")]
    return max(drains, key=lambda kv: median(kv[1], "rate") or 0.0) if drains else None


def peer_value(system: dict[str, Any], step: str, field: str) -> tuple[float | None, str]:
    """The figure and, when there is none, why."""
    if "error" in system:
        return None, "not installed" if system["error"].startswith("not installed") else "failed"
    if step == "drain":
        best = best_drain(system)
        if best is None:
            errors = [v for k, v in system["steps"].items() if k.startswith("drain_") and "error" in v]
            return None, "failed" if errors else "-"
        return median(best[1], field), ""
    result = system["steps"].get(step, {})
    if "error" in result:
        return None, "failed"
    if "skipped" in result:
        return None, "n/a"
    return median(result, field), ""


def peers_table(systems: dict[str, dict[str, Any]]) -> str:
    names = list(systems)
    peers = [n for n in names if n != "rqueues"]
    rows = []
    for label, step, field, higher in PEER_ROWS:
        cells, peer_values = [], []
        for name in names:
            value, why = peer_value(systems[name], step, field)
            cell = why if value is None else fmt(field, value)
            if step == "drain" and value is not None and field == "rate":
                best = best_drain(systems[name])
                slots = best[0].removeprefix("drain_c") if best else "?"
                cell += f" (x{slots})" if systems[name].get("concurrent", True) else " (x1)"
            cells.append(cell)
            if name in peers and value is not None:
                peer_values.append(value)
        ours, _ = peer_value(systems["rqueues"], step, field) if "rqueues" in systems else (None, "")
        ratio = ""
        if ours is not None and peer_values:
            best = max(peer_values) if higher else min(peer_values)
            ratio = f"{ours / best:.2f}x" if best else ""
        rows.append([label, *cells, ratio])
    return table(["per system (higher/lower is better)", *names, "rqueues / best peer"], rows)


def peers_notes(systems: dict[str, dict[str, Any]]) -> str:
    lines = ["Settings (each system's fast mode):"]
    for name, s in systems.items():
        if "error" in s:
            lines.append(f"- {name}: {s['error']}")
            continue
        batch = s.get("batch_mode") or "no batched enqueue"
        lines.append(f"- {name} {s.get('version', '?')}: {s.get('fast_mode', '')}; batched enqueue: {batch}")
        for key, v in s.get("steps", {}).items():
            if "error" in v:
                lines.append(f"  - {key} failed: {v['error']}")
    return "\n".join(lines)


def peer_targets(systems: dict[str, dict[str, Any]]) -> list[str]:
    ours = systems.get("rqueues", {})
    peers = {n: s for n, s in systems.items() if n != "rqueues" and "error" not in s}
    out = []
    drain = best_drain(ours) if "error" not in ours else None
    peer_drains = [median(b[1], "rate") or 0.0 for s in peers.values() if (b := best_drain(s))]
    if drain and peer_drains:
        rate, best = median(drain[1], "rate") or 0.0, max(peer_drains)
        ok = rate >= 5 * best and rate >= 10_000
        out.append(
            f"drain: {rate:,.0f} jobs/s = {rate / best:.1f}x the fastest peer ({best:,.0f}); "
            f"target >= 5x and >= 10,000: {'met' if ok else 'MISSED'}"
        )
    mem = median(ours.get("steps", {}).get("memory_queued", {}), "bytes")
    peer_mems = [m for s in peers.values() if (m := median(s["steps"].get("memory_queued", {}), "bytes"))]
    if mem and peer_mems:
        least = min(peer_mems)
        ok = mem <= least / 2
        out.append(
            f"memory per queued job: {mem:,.0f} B = {mem / least:.2f}x the leanest peer ({least:,.0f} B); "
            f"target <= 0.5x: {'met' if ok else 'MISSED'}"
        )
    return out


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
