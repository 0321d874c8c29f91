"""python -m bench [--full | --peers]: rqueues' performance figures against their targets.

Starts a private redis-server on a loopback port (rqueues.quickstart.embedded), runs the
plan, prints the targets table and the measurements, and writes
bench/results/MODE-TIME.json.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from rqueues.quickstart.embedded import EmbeddedServer

from . import compare, report
from .peers import PEERS, peer_python, run_system
from .plan import PLANS, execute, select
from .procs import ROOT
from .redisstats import server_version
from .workload import Bench


def log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def run_rqueues(mode: str, url: str, only: list[str]) -> dict[str, Any]:
    from .peers.rqueues import System

    adapter = System(url)
    try:
        steps = execute(Bench(adapter, url), select(PLANS[mode], only), log)
    finally:
        adapter.close()
    return {
        "version": adapter.version(),
        "fast_mode": adapter.fast_mode,
        "batch_mode": adapter.batch_mode,
        "steps": steps,
    }


def run_peers(url: str, systems: list[str], timeout: float, only: list[str]) -> dict[str, dict[str, Any]]:
    out = {}
    for name in systems:
        log(f"{name}:")
        python = sys.executable if name == "rqueues" else str(peer_python(name))
        out[name] = run_system(name, python, url, "peers", timeout, only)
        if "error" in out[name]:
            log(f"  {out[name]['error']}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--full", action="store_true", help="more runs, bigger counts, more workloads")
    mode.add_argument("--peers", action="store_true", help="rqueues and its peers side by side")
    parser.add_argument(
        "--systems", default=",".join(("rqueues", *PEERS)), help="with --peers: which systems"
    )
    parser.add_argument("--timeout", type=float, default=900, help="with --peers: seconds per system")
    parser.add_argument("--out", type=Path, default=None, help="JSON results file")
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated step keys of the plan to run (default: all), e.g. flat,listing",
    )
    args = parser.parse_args(argv)
    name = "full" if args.full else "peers" if args.peers else "quick"
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    unknown = set(systems) - {"rqueues", *PEERS}
    if unknown:
        parser.error(
            f"unknown system(s) {', '.join(sorted(unknown))}; choose from rqueues, {', '.join(PEERS)}"
        )

    only = [k.strip() for k in args.only.split(",") if k.strip()]
    keys = [step.key for step in PLANS[name]]
    if set(only) - set(keys):
        parser.error(
            f"unknown step(s) {', '.join(sorted(set(only) - set(keys)))}; the plan has {', '.join(keys)}"
        )
    command = "python -m bench" + {"quick": "", "full": " --full", "peers": " --peers"}[name]
    if args.peers and systems != ["rqueues", *PEERS]:
        command += f" --systems {','.join(systems)}"
    command += f" --only {','.join(only)}" if only else ""
    t0 = time.monotonic()
    with EmbeddedServer() as server:
        import redis

        meta: dict[str, Any] = {
            "mode": name,
            "command": command,
            "when": time.strftime("%Y-%m-%d %H:%M:%S"),
            "machine": report.machine(),
            "redis": server_version(redis.Redis.from_url(server.url)),
            "rqueues_commit": report.git_commit(),
        }
        log(f"bench {name}: redis {meta['redis']} on {server.url}")
        if args.peers:
            systems_out = run_peers(server.url, systems, args.timeout, only)
        else:
            systems_out = {"rqueues": run_rqueues(name, server.url, only)}
        payload = {"meta": meta, "systems": systems_out}
    meta["seconds"] = round(time.monotonic() - t0, 1)
    print_report(meta, PLANS[name], systems_out)
    path = report.write(name, payload, args.out)
    print(f"\nresults: {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    make = {"python -m bench": "make bench", "python -m bench --full": "make bench-full"}
    make["python -m bench --peers"] = "make bench-peers"
    again = make.get(
        command, f"make install && .venv/bin/python -m bench.peers.install && .venv/bin/{command}"
    )
    print(f"took {meta['seconds']}s\nreproduce: {again}")
    return 0


def print_report(meta: dict[str, Any], plan: list[Any], systems: dict[str, dict[str, Any]]) -> None:
    m = meta["machine"]
    print(f"\n{meta['command']}  ({m['nproc']} x {m['cpu']}, Python {m['python']}, Redis {meta['redis']})")
    ours = systems.get("rqueues", {})
    if len(systems) > 1:
        print(f"\n{compare.peers_table(systems)}")
    print(f"\nTargets (medians of runs):\n\n{compare.targets_table(systems)}")
    if "steps" in ours:
        print(f"\nMeasurements:\n\n{report.system_table(plan, ours['steps'])}")
    lines = report.scaling_lines(ours.get("steps", {}).get("scaling"))
    if lines:
        print("\n" + "\n".join(lines))
    print(f"\n{compare.peers_notes(systems)}")


if __name__ == "__main__":
    sys.exit(main())
