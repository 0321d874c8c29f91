"""Create one virtualenv per peer under .venv-peers/ and install the peer from PyPI.

One venv each because the peers cannot share one: arq pins redis-py below 6,
Celery's Redis transport needs 6.4 or later. A peer whose install fails is
reported and left out; the benchmark shows it as not installed.

    python -m bench.peers.install [PEER ...]
"""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

from . import PEERS, peer_python

#: What each peer's venv installs; hiredis because rqueues parses replies with it too.
SPECS = {
    "rq": ["rq", "hiredis"],
    "celery": ["celery[redis]", "hiredis"],
    "dramatiq": ["dramatiq[redis]", "hiredis"],
    "arq": ["arq"],  # arq already depends on redis[hiredis]
    "huey": ["huey", "redis", "hiredis"],
}
TIMEOUT = 600


def install(peer: str) -> str:
    """Install ``peer`` unless its venv is already complete; returns a status line."""
    python = peer_python(peer)
    home = python.parent.parent
    stamp = home / ".installed"
    wanted = " ".join(SPECS[peer])
    if stamp.exists() and stamp.read_text() == wanted:
        return f"{peer}: up to date"
    if not python.exists():
        venv.create(home, with_pip=True)
    cmd = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *SPECS[peer]]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return f"{peer}: FAILED, pip did not finish within {TIMEOUT}s"
    if proc.returncode != 0:
        return f"{peer}: FAILED, pip exited with {proc.returncode}: {proc.stderr.strip()[-500:]}"
    stamp.write_text(wanted)
    return f"{peer}: installed {wanted}"


def main() -> None:
    peers = sys.argv[1:] or list(PEERS)
    unknown = sorted(set(peers) - set(PEERS))
    if unknown:
        sys.exit(f"unknown peer(s) {', '.join(unknown)}; choose from {', '.join(PEERS)}")
    Path(peer_python(peers[0])).parent.parent.parent.mkdir(exist_ok=True)
    for peer in peers:
        print(install(peer), flush=True)


if __name__ == "__main__":
    main()
