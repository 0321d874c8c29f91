"""rqueues against its peers and against its performance targets.

The targets table has one row per target of the performance work: the median
measured, the target, met or MISSED, and the ratio to the fastest peer where
the peers ran in the same run. Targets relative to a peer (5x the fastest
drain, Huey's enqueue rate, half the leanest memory, Huey's commands per job)
use the peers of this run; without them (``make bench``), the figures of the
reference side-by-side run below, marked "ref".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .report import fmt, median, table

#: Peer figures of the reference `make bench-peers` run on the development machine
#: (docs/performance.md, Targets), used by `make bench` where no peer runs.
REFERENCE = {
    "fastest_drain": 4_839.0,  # Dramatiq, 32 threads (Huey 3,596 with 8)
    "huey_enqueue_one": 8_297.0,
    "leanest_memory": 125.0,  # Huey
    "huey_commands": 4.0,
}
#: "Cost flat in queue length": the long backlog's cost over the short one's, within noise.
FLAT_RATIO = 1.2
LISTING_MS = 10.0


def headline_drain(name: str, system: dict[str, Any]) -> dict[str, Any] | None:
    """rqueues: the default worker's drain; a peer: its best single-process drain."""
    steps: dict[str, dict[str, Any]] = system.get("steps", {})
    if name == "rqueues" and median(steps.get("drain_default"), "rate"):
        return steps["drain_default"]
    drains = [v for k, v in steps.items() if k.startswith("drain_c") and median(v, "rate")]
    return max(drains, key=lambda v: median(v, "rate") or 0.0) if drains else None


def best_slots(system: dict[str, Any]) -> str:
    steps = system.get("steps", {})
    best = headline_drain("", system)
    key = next((k for k, v in steps.items() if v is best), "")
    return key.removeprefix("drain_c") if system.get("concurrent", True) else "1"


def value(name: str, system: dict[str, Any], step: str, field: str) -> tuple[float | None, str]:
    """The figure and, when there is none, why."""
    if "error" in system:
        return None, "not installed" if system["error"].startswith("not installed") else "failed"
    result = headline_drain(name, system) if step == "drain" else system.get("steps", {}).get(step)
    if result is None:
        return None, "-"
    if "error" in result:
        return None, "failed"
    if "skipped" in result:
        return None, "n/a"
    return median(result, field), ""


# -- side by side -------------------------------------------------------------

#: (label, step, field, higher is better); step "drain": rqueues' default worker, a peer's best.
PEER_ROWS = [
    ("enqueue one call at a time, jobs/s", "enqueue_one", "rate", True),
    ("enqueue batched, jobs/s", "enqueue_batch", "rate", True),
    ("drain: rqueues default worker, peers' best 1 process, jobs/s", "drain", "rate", True),
    ("drain, 1 process x 32 slots, jobs/s", "drain_c32", "rate", True),
    ("enqueue-to-start p50, idle, 0-500 ms gaps, ms", "latency_idle", "p50_ms", False),
    ("enqueue-to-start p99, idle, 0-500 ms gaps, ms", "latency_idle", "p99_ms", False),
    ("idle worker requests to Redis/s", "latency_idle", "idle_requests_per_s", False),
    ("Redis commands per job (enqueue + work)", "drain", "commands_per_job", False),
    ("round trips per job (work)", "drain", "round_trips_per_job", False),
    ("round trips per job (enqueue, one at a time)", "drain", "enqueue_round_trips_per_job", False),
    ("worker CPU per job (drain), us", "drain", "worker_cpu_us_per_job", False),
    ("Redis CPU per job (drain), us", "drain", "redis_cpu_us_per_job", False),
    ("Redis memory per queued no-arg job, B", "memory_queued", "bytes", False),
    ("Redis memory per finished record, B", "drain", "record_bytes", False),
    ("worker RSS after the drain, MiB", "drain", "rss_mib", False),
]


def best_peer(systems: dict[str, dict[str, Any]], step: str, field: str, higher: bool) -> float | None:
    found = [v for n, s in systems.items() if n != "rqueues" and (v := value(n, s, step, field)[0])]
    return (max(found) if higher else min(found)) if found else None


def ratio(ours: float | None, best: float | None) -> str:
    return f"{ours / best:.2f}x" if ours is not None and best else ""


#: Figures a peer's fast mode does not keep (results off): no ratio.
NO_RATIO = {"record_bytes"}


def peers_table(systems: dict[str, dict[str, Any]]) -> str:
    names = list(systems)
    rows = []
    for label, step, field, higher in PEER_ROWS:
        cells = []
        for name in names:
            v, why = value(name, systems[name], step, field)
            cell = why if v is None else fmt(field, v)
            if step == "drain" and field == "rate" and v is not None:
                cell += " (default)" if name == "rqueues" else f" (x{best_slots(systems[name])})"
            cells.append(cell)
        ours = value("rqueues", systems["rqueues"], step, field)[0] if "rqueues" in systems else None
        vs = "" if field in NO_RATIO else ratio(ours, best_peer(systems, step, field, higher))
        rows.append([label, *cells, vs])
    return table(["per system (higher/lower is better)", *names, "rqueues / best peer"], rows)


def peers_notes(systems: dict[str, dict[str, Any]]) -> str:
    lines = ["Settings (each system's mode):"]
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


# -- the targets ------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    label: str
    step: str  # "drain": the headline drain
    field: str
    higher: bool
    text: str = "reported"
    #: a fixed bound, or ``factor`` times the peer figure named ``peer``; neither: reported only
    bound: float | None = None
    peer: str | None = None
    factor: float = 1.0
    #: whether the ratio column compares with the peers' same figure
    vs_peers: bool = True

    def limit(self, peers: dict[str, float], refs: set[str]) -> tuple[float | None, str]:
        if self.peer is not None:
            b = self.factor * peers[self.peer]
            return b, f"{self.text} = {fmt(self.field, b)}{' ref.' if self.peer in refs else ''}"
        return self.bound, self.text


TARGETS = [
    Target("drain, default `rqueues worker`, jobs/s", "drain", "rate", True,
           ">= 5x the fastest peer's best 1-process drain", peer="fastest_drain", factor=5),
    Target("drain, 1 process x 32 slots, jobs/s", "drain_c32", "rate", True),
    Target("enqueue-to-start p50, idle, ms", "latency_idle", "p50_ms", False, "<= 1 ms", 1.0),
    Target("enqueue-to-start p99, idle, ms", "latency_idle", "p99_ms", False, "<= 3 ms", 3.0),
    Target("enqueue one call at a time, jobs/s", "enqueue_one", "rate", True,
           ">= Huey's", peer="huey_enqueue_one"),
    Target("enqueue batched, jobs/s", "enqueue_batch", "rate", True, ">= 100,000", 100_000),
    Target("Redis memory per queued job, B", "memory_queued", "bytes", False,
           "<= half the leanest peer's", peer="leanest_memory", factor=0.5),
    Target("Redis memory per finished record, B", "drain", "record_bytes", False),
    Target("Redis commands per job (enqueue + work)", "drain", "commands_per_job", False,
           "<= Huey's", peer="huey_commands"),
    Target("round trips per job (work)", "drain", "round_trips_per_job", False),
    Target("enqueue cost, long / short backlog", "flat", "enqueue_ratio", False,
           f"<= {FLAT_RATIO}x (flat)", FLAT_RATIO, vs_peers=False),
    Target("claim cost, long / short backlog", "flat", "claim_ratio", False,
           f"<= {FLAT_RATIO}x (flat)", FLAT_RATIO, vs_peers=False),
    Target("list 50 succeeded jobs, ms", "listing", "list_ms", False,
           f"< {LISTING_MS:g} ms", LISTING_MS, vs_peers=False),
]  # fmt: skip


def peer_figures(systems: dict[str, dict[str, Any]]) -> tuple[dict[str, float], set[str]]:
    """The peer figures the relative targets need: from this run where it has them, else
    REFERENCE; and the names of those taken from REFERENCE."""
    huey = systems.get("huey", {})
    found = {
        "fastest_drain": best_peer(systems, "drain", "rate", True),
        "huey_enqueue_one": value("huey", huey, "enqueue_one", "rate")[0] if huey else None,
        "leanest_memory": best_peer(systems, "memory_queued", "bytes", False),
        "huey_commands": value("huey", huey, "drain", "commands_per_job")[0] if huey else None,
    }
    refs = {k for k, v in found.items() if v is None}
    return {k: REFERENCE[k] if v is None else v for k, v in found.items()}, refs


def targets_table(systems: dict[str, dict[str, Any]]) -> str:
    ours = systems.get("rqueues", {})
    peers, refs = peer_figures(systems)
    ran_peers = any(n != "rqueues" and "error" not in s for n, s in systems.items())
    rows = []
    for t in TARGETS:
        v, why = value("rqueues", ours, t.step, t.field)
        if why == "-":
            continue  # the step did not run (--only)
        result = step_result(ours, t.step)
        label = t.label + context(t.step, result)
        spread = "" if v is None else f"{fmt(t.field, result[t.field]['min'])} - "
        spread += "" if v is None else fmt(t.field, result[t.field]["max"])
        bound, text = t.limit(peers, refs)
        status = "" if v is None or bound is None else met(v, bound, t.higher, t.field)
        vs = ""
        if ran_peers and t.vs_peers and t.field not in NO_RATIO:
            vs = ratio(v, best_peer(systems, t.step, t.field, t.higher))
        rows.append([label, why if v is None else fmt(t.field, v), spread, text, status, vs])
    out = table(["figure", "median", "runs (min - max)", "target", "", "rqueues / best peer"], rows)
    if refs:
        out += "\n\nref. = the peers' figures of the reference `make bench-peers` run; --peers measures them."
    return out


def step_result(system: dict[str, Any], step: str) -> dict[str, Any]:
    if step == "drain":
        return headline_drain("rqueues", system) or {}
    return system.get("steps", {}).get(step) or {}


def context(step: str, result: dict[str, Any]) -> str:
    """The size a row was measured at, where the plan sets it (quick runs use smaller ones)."""
    if step == "flat" and (n := median(result, "waiting_large")):
        return f" ({median(result, 'waiting_small') or 0:,.0f} vs {n:,.0f} waiting)"
    if step == "listing" and (n := median(result, "records")):
        timed_out = " (timed out: a lower bound)" if median(result, "timed_out") else ""
        return f" of {n:,.0f} finished{timed_out}"
    return ""


def met(v: float, bound: float, higher: bool, field: str) -> str:
    if field == "list_ms":
        return "met" if v < bound else "MISSED"
    return "met" if (v >= bound if higher else v <= bound) else "MISSED"
