"""Reconstructs what ran from the independent run log the chaos jobs write (tasks.chaos_record).

Each line is ``start|end JOB TIMESTAMP PID ATTEMPT``. A run is one (job, pid, attempt):
its start and, unless its process was killed first, its end. Pure functions only.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Run:
    job: str
    pid: int
    attempt: int
    start: float
    end: float | None  # None: no end was logged (the process died first)


def parse(lines: Iterable[bytes | str]) -> list[Run]:
    """Pair start and end lines into runs, ordered by start time."""
    starts: dict[tuple[str, int, int], float] = {}
    ends: dict[tuple[str, int, int], float] = {}
    for raw in lines:
        text = raw.decode() if isinstance(raw, bytes) else raw
        fields = text.split()
        if not fields:
            continue
        if len(fields) != 5 or fields[0] not in ("start", "end"):
            raise ValueError(f"malformed run log line: {text!r}")
        event, job, ts, pid, attempt = fields
        key = (job, int(pid), int(attempt))
        seen = starts if event == "start" else ends
        if key in seen:
            raise ValueError(f"run logged {event} twice: {text!r}")
        seen[key] = float(ts)
    orphans = set(ends) - set(starts)
    if orphans:
        raise ValueError(f"end without a start: {sorted(orphans)}")
    runs = [
        Run(job, pid, attempt, start, ends.get((job, pid, attempt)))
        for (job, pid, attempt), start in starts.items()
    ]
    return sorted(runs, key=lambda r: r.start)


def by_job(runs: Iterable[Run]) -> dict[str, list[Run]]:
    out: dict[str, list[Run]] = defaultdict(list)
    for run in runs:
        out[run.job].append(run)
    return dict(out)


def intervals(runs: Iterable[Run], unfinished_end: Callable[[Run], float]) -> list[tuple[float, float]]:
    """(start, end) of each run; ``unfinished_end`` closes the runs whose process died."""
    return [(r.start, r.end if r.end is not None else unfinished_end(r)) for r in runs]


def max_overlap(spans: Iterable[tuple[float, float]]) -> tuple[int, float | None]:
    """Most spans open at one instant, and the first instant it happens.

    At equal timestamps a start counts before an end: a tie is read as an overlap.
    """
    events = sorted([(start, 0) for start, _ in spans] + [(end, 1) for _, end in spans])
    best, at, open_now = 0, None, 0
    for ts, kind in events:
        open_now += 1 if kind == 0 else -1
        if open_now > best:
            best, at = open_now, ts
    return best, at


def self_overlaps(runs: Iterable[Run], unfinished_end: Callable[[Run], float]) -> list[str]:
    """Jobs with two runs open at the same instant: run twice at once."""
    return [job for job, mine in by_job(runs).items() if max_overlap(intervals(mine, unfinished_end))[0] > 1]


def recovery_times(runs: list[Run], kills: dict[int, float]) -> tuple[list[float], list[str]]:
    """Seconds from each kill to the next start elsewhere of every job the killed process held.

    A job the killed process started and did not finish, or finished but ran again (its
    outcome was not stored before the kill), counts. Returns the times and the jobs
    that never ran again after their process was killed unfinished.
    """
    jobs = by_job(runs)
    times, never = [], []
    for run in runs:
        killed_at = kills.get(run.pid)
        if killed_at is None or run.start > killed_at:
            continue
        later = [r for r in jobs[run.job] if r.pid != run.pid and r.start > killed_at]
        if later:
            times.append(min(r.start for r in later) - killed_at)
        elif run.end is None:
            never.append(run.job)
    return times, never


def summary(values: list[float]) -> dict[str, float | int | None]:
    """count, median and max, rounded to milliseconds."""
    if not values:
        return {"count": 0, "median": None, "max": None}
    return {"count": len(values), "median": round(statistics.median(values), 3), "max": round(max(values), 3)}
