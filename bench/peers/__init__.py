"""The peers' adapters, and running any system's plan in its own environment."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from ..procs import ROOT

PEERS = ("rq", "celery", "dramatiq", "arq", "huey")
PEERS_HOME = ROOT / ".venv-peers"


def peer_python(peer: str) -> Path:
    """The interpreter of ``peer``'s own venv (one venv per peer: their redis-py pins clash)."""
    return PEERS_HOME / peer / "bin" / "python"


def run_system(
    system: str,
    python: str,
    url: str,
    plan: str = "peers",
    timeout: float = 900,
    only: list[str] | None = None,
) -> dict[str, Any]:
    """Run ``plan`` for ``system`` with ``python``; any failure comes back as {"error": ...}."""
    if not os.path.exists(python):
        return {"error": f"{python} not found (make bench-peers creates it)"}
    argv = [python, "-m", "bench.peers.run", system, "--url", url, "--plan", plan]
    proc = subprocess.Popen(
        [*argv, "--only", ",".join(only or [])],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.terminate()  # run.py stops its workers on SIGTERM
        try:
            proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
        return {"error": f"did not finish within {timeout:.0f}s"}
    lines = out.strip().splitlines()
    try:
        result: dict[str, Any] = json.loads(lines[-1])
        return result
    except (IndexError, ValueError):
        return {"error": f"exited with {proc.returncode} without a result: {out[-300:]!r}"}
