"""Run one plan for one system and print the results as one JSON line.

    python -m bench.peers.run SYSTEM --url URL --plan peers

Runs in the system's own environment (the peers' venv for a peer); progress
goes to stderr, the JSON line is the last line of stdout.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import signal
import sys
import traceback
from typing import Any

from ..tasks import URL_ENV

SYSTEMS = ("rqueues", "rq", "celery", "dramatiq", "arq", "huey")


def run(system: str, url: str, plan: str, only: list[str]) -> dict[str, Any]:
    # Set before the adapter is imported: peers build their app from it at import.
    os.environ[URL_ENV] = url
    from ..plan import PLANS, execute, select
    from ..workload import Bench

    try:
        module = importlib.import_module(f"bench.peers.{system}")
        adapter = module.System(url)
    except ImportError as exc:
        return {"error": f"not installed: {exc}"}
    try:
        bench = Bench(adapter, url)
        steps = execute(
            bench, select(PLANS[plan], only), lambda line: print(line, file=sys.stderr, flush=True)
        )
        return {
            "version": adapter.version(),
            "fast_mode": adapter.fast_mode,
            "batch_mode": adapter.batch_mode,
            "concurrent": adapter.concurrent,
            "steps": steps,
        }
    finally:
        adapter.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.peers.run")
    parser.add_argument("system", choices=SYSTEMS)
    parser.add_argument("--url", required=True)
    parser.add_argument("--plan", default="peers", choices=("quick", "full", "peers"))
    parser.add_argument("--only", default="", help="comma-separated step keys (default: all)")
    args = parser.parse_args()
    # The driver stops an overdue run with SIGTERM: unwind so the worker processes are stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        result = run(args.system, args.url, args.plan, [k for k in args.only.split(",") if k])
    except Exception as exc:
        traceback.print_exc()
        result = {"error": f"{type(exc).__name__}: {exc}"[:400]}
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
