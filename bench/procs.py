"""Worker processes the benchmark starts, stops and weighs."""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
from pathlib import Path

ROOT = Path(__file__).absolute().parent.parent


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, every core summed (/proc/stat)."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return 0.0, 0.0
    idle = sum(fields[3:5])  # idle, iowait
    total = sum(fields[:8])  # user nice system idle iowait irq softirq steal (guest is in user)
    tick = os.sysconf("SC_CLK_TCK")
    return (total - idle) / tick, total / tick


class Workers:
    """``count`` copies of one worker command, each in its own process group.

    A process group per worker lets stop() reach the children some peers fork
    (Dramatiq's worker processes) without touching anything else.
    """

    def __init__(self, argv: list[str], env: dict[str, str], count: int = 1) -> None:
        self.argv = argv
        self.env = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
        self.count = count
        self.procs: list[subprocess.Popen[bytes]] = []
        self._log = tempfile.TemporaryFile()

    def start(self) -> Workers:
        for _ in range(self.count):
            self.procs.append(
                subprocess.Popen(
                    self.argv,
                    cwd=ROOT,
                    env=self.env,
                    stdin=subprocess.DEVNULL,
                    stdout=self._log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        return self

    def check(self) -> None:
        """Raise with the log's tail if a worker has exited."""
        for p in self.procs:
            if p.poll() is not None:
                raise RuntimeError(f"worker {self.argv[:4]} exited with {p.returncode}: {self.log_tail()}")

    def _stats(self) -> list[list[str]]:
        """/proc/PID/stat fields (after the command name) of every process in the workers' groups."""
        groups = {p.pid for p in self.procs}
        found = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue  # the process went away while we looked
            if len(fields) > 21 and int(fields[2]) in groups:  # stat field 5: the process group
                found.append(fields)
        return found

    def rss_bytes(self) -> int:
        """Resident memory of every process in the workers' groups, summed."""
        return sum(int(f[21]) for f in self._stats()) * os.sysconf("SC_PAGE_SIZE")  # field 24: rss pages

    def cpu_seconds(self) -> float:
        """User and system CPU used so far by every process in the workers' groups."""
        ticks = sum(int(f[11]) + int(f[12]) for f in self._stats())  # fields 14, 15: utime, stime
        return ticks / os.sysconf("SC_CLK_TCK")

    def cpu_by_worker(self) -> list[float]:
        """CPU seconds so far of each worker's process group (children included), by group."""
        ticks = dict.fromkeys((p.pid for p in self.procs), 0)
        for f in self._stats():
            ticks[int(f[2])] += int(f[11]) + int(f[12])
        return [t / os.sysconf("SC_CLK_TCK") for t in ticks.values()]

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM each group, then SIGKILL what is left after ``timeout``."""
        for p in self.procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(5)

    def log_tail(self, size: int = 2000) -> str:
        self._log.flush()
        self._log.seek(0, os.SEEK_END)
        end = self._log.tell()
        self._log.seek(max(0, end - size))
        return self._log.read().decode(errors="replace")

    def __enter__(self) -> Workers:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
