"""Where a worker's time goes while it drains a backlog: py-spy on the worker process.

    python -m bench.profile [--jobs N] [--concurrency C]

Samples the busy threads of one rqueues worker (py-spy record --threads; with
--gil only the thread holding the GIL, which is where the worker's Python CPU
goes) between the first and last stamp of a drain, then prints the functions
with the most samples, by thread, self and inclusive, and the Redis commands
per job. The raw collapsed stacks are kept in bench/results/ for flame graphs.
"""

from __future__ import annotations

import argparse
import collections
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from rqueues.quickstart.embedded import EmbeddedServer

from .peers.rqueues import System
from .redisstats import per_job, snapshot
from .report import RESULTS
from .workload import END, START, Bench


def py_spy() -> str:
    here = Path(sys.executable).parent / "py-spy"
    found = str(here) if here.exists() else shutil.which("py-spy")
    if not found:
        sys.exit("py-spy not found: pip install py-spy into the venv (it is in the dev extra)")
    return found


def record(jobs: int, concurrency: int, out: Path, gil: bool) -> dict[str, object]:
    with EmbeddedServer() as server:
        adapter = System(server.url)
        bench = Bench(adapter, server.url)
        bench.reset()
        adapter.enqueue("stamp", (START,))
        bench.fill(jobs)
        adapter.enqueue("stamp", (END,))
        before = snapshot(bench.r)
        deadline = time.monotonic() + bench.timeout
        with bench.workers(concurrency) as w:
            bench._pop(START, w, deadline)
            spy = subprocess.Popen(
                [py_spy(), "record", "--pid", str(w.procs[0].pid), "--threads", "--rate", "1000"]
                + ["--format", "raw", "--output", str(out), "--nonblocking"]
                + (["--gil"] if gil else []),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            started = time.time()
            ended = bench._pop(END, w, deadline)
            adapter.settled(deadline)
            spy.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
            _, err = spy.communicate(timeout=30)
            after = snapshot(bench.r)
        adapter.close()
    if not out.exists():
        sys.exit(f"py-spy wrote no profile: {err.decode(errors='replace')[-500:]}")
    return {"rate": jobs / max(1e-9, ended - started), **per_job(before, after, jobs + 2)}


def summarize(path: Path, top: int) -> str:
    by_thread: collections.Counter[str] = collections.Counter()
    self_time: collections.Counter[tuple[str, str]] = collections.Counter()
    inclusive: collections.Counter[tuple[str, str]] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        frames = stack.split(";")
        thread = role(frames)
        total += n
        by_thread[thread] += n
        self_time[(thread, frames[-1])] += n
        for frame in set(frames[1:]):
            inclusive[(thread, frame)] += n
    lines = [f"{total} samples", "", "samples by thread:"]
    lines += [f"  {n / total:6.1%}  {t}" for t, n in by_thread.most_common()]
    lines += ["", "self (the frame on top of the stack):"]
    lines += [f"  {n / total:6.1%}  [{t}] {f}" for (t, f), n in self_time.most_common(top)]
    lines += ["", "inclusive:"]
    lines += [f"  {n / total:6.1%}  [{t}] {f}" for (t, f), n in inclusive.most_common(top)]
    return "\n".join(lines)


ROLES = (
    ("Worker._loop", "dispatcher"),
    ("ThreadExecutor._slot", "slot"),
    ("Acker._loop", "acker"),
    ("Heartbeat._loop", "heartbeat"),
)


def role(frames: list[str]) -> str:
    """Name a thread by what it runs (py-spy only knows thread ids)."""
    for marker, name in ROLES:
        if any(f.startswith(marker + " ") for f in frames):
            return name
    return frames[0]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("--jobs", type=int, default=50_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--gil", action="store_true", help="sample only the thread holding the GIL")
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"profile-{time.strftime('%Y%m%d-%H%M%S')}.txt"
    stats = record(args.jobs, args.concurrency, out, args.gil)
    print(
        f"drain of {args.jobs:,} no-op jobs, 1 process x {args.concurrency} slots, under py-spy: "
        f"{stats['rate']:,.0f} jobs/s, {stats['round_trips_per_job']:.2f} round trips/job, "
        f"{stats['commands_per_job']:.1f} commands/job"
    )
    print(f"commands per job: {stats['top_commands_per_job']}\n")
    print(summarize(out, args.top))
    print(f"\ncollapsed stacks: {out}")


if __name__ == "__main__":
    main()
