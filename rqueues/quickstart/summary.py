"""The quick start's progress lines, views and summary: pure functions of job records."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from ..job import TERMINAL
from ..observe.table import table
from ..record import JobRecord
from ..routing import matches
from .plan import LINE_SECONDS, DemoQueue


@dataclass(frozen=True)
class QueueProgress:
    """One queue at one moment: job states from the records, running from the leases."""

    name: str
    limit: int
    tags: tuple[str, ...]
    total: int
    queued: int
    running: int
    done: int
    failed: int

    @property
    def finished(self) -> bool:
        return self.done + self.failed >= self.total

    def running_text(self) -> str:
        return f"{self.running} of {self.limit}" if self.limit else f"{self.running} (no limit)"

    def line(self) -> str:
        running = f"{self.running}/{self.limit}" if self.limit else str(self.running)
        failed = f", failed {self.failed}" if self.failed else ""
        return f"{self.name}: running {running}, queued {self.queued}, done {self.done}/{self.total}{failed}"

    def row(self, bar_width: int = 20) -> dict[str, Any]:
        width = len(str(self.total))
        filled = (self.done + self.failed) * bar_width // max(1, self.total)
        return {
            "queue": self.name,
            "tags": list(self.tags),
            "running": self.running_text(),
            "queued": f"{self.queued:>{width}}",
            "done": f"{self.done:>{width}}/{self.total}",
            "failed": self.failed,
            "progress": "[" + "#" * filled + "." * (bar_width - filled) + "]",
        }


PROGRESS_COLUMNS = ("queue", "tags", "running", "queued", "done", "failed", "progress")
SUMMARY_COLUMNS = ("queue", "tags", "jobs", "succeeded", "failed", "limit", "most at once")


def most_at_once(intervals: Iterable[tuple[float, float]]) -> int:
    """The largest number of intervals open at one instant.

    An interval that ends at the instant another starts does not overlap it:
    a lease is released in the same call that stamps finished_at, before the
    next job of the queue can be claimed.
    """
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    best = current = 0
    for _, step in events:  # at equal times -1 sorts first: an end frees its slot before a start
        current += step
        best = max(best, current)
    return best


@dataclass(frozen=True)
class QueueSummary:
    """What the job records of one queue show once the run is over."""

    name: str
    limit: int
    tags: tuple[str, ...]
    jobs: int
    succeeded: int
    failed: int
    most_at_once: int


@dataclass
class Summary:
    queues: list[QueueSummary]
    ran: dict[str, Counter[str]]  # worker id -> queue name -> jobs it ran
    problems: list[str] = field(default_factory=list)


def summarize(
    queues: Sequence[DemoQueue],
    jobs: Mapping[str, Sequence[str]],
    records: Mapping[str, JobRecord],
    tags_of: Mapping[str, Iterable[str]],
) -> Summary:
    """Check the run from the job records: failures, the cap of each queue, and tag routing."""
    summary = Summary([], {})
    for q in queues:
        ids = jobs.get(q.name, [])
        recs = [records[i] for i in ids if i in records]
        if len(recs) < len(ids):
            summary.problems.append(f"{q.name}: {len(ids) - len(recs)} job record(s) missing")
        states = Counter(r.state for r in recs)
        unfinished = sum(n for s, n in states.items() if s not in TERMINAL)
        if unfinished:
            summary.problems.append(f"{q.name}: {unfinished} job(s) did not finish")
        failed = [r for r in recs if r.state in TERMINAL and r.state != "succeeded"]
        if failed:
            err = failed[0].error or {}
            summary.problems.append(
                f"{q.name}: {len(failed)} job(s) did not succeed, e.g. {failed[0].id} "
                f"{failed[0].state}: {err.get('type', '')}: {err.get('message', '')}"
            )
        # A job still running counts as running until the end: an over-count, never an under-count.
        spans = [(r.started_at, r.finished_at or float("inf")) for r in recs if r.started_at is not None]
        peak = most_at_once(spans)
        if q.concurrency and peak > q.concurrency:
            summary.problems.append(f"{q.name}: {peak} jobs ran at once, above its limit of {q.concurrency}")
        for r in recs:
            if r.worker is None:
                continue
            summary.ran.setdefault(r.worker, Counter())[q.name] += 1
            tags = set(tags_of.get(r.worker, ())) | {"*", f"worker_id={r.worker}"}
            if q.tags and not matches(q.tags, tags):
                summary.problems.append(
                    f"{q.name}: job {r.id} ran on worker {r.worker}, whose tags do not match {list(q.tags)}"
                )
        summary.queues.append(
            QueueSummary(q.name, q.concurrency, q.tags, len(ids), states["succeeded"], len(failed), peak)
        )
    return summary


def render_summary(
    summary: Summary, tags_of: Mapping[str, Iterable[str]], elapsed: float, worker_order: Sequence[str] = ()
) -> list[str]:
    """The closing report: per queue the peak next to the limit, then who ran what, then the verdict."""
    rows = [
        {
            "queue": q.name,
            "tags": list(q.tags),
            "jobs": q.jobs,
            "succeeded": q.succeeded,
            "failed": q.failed,
            "limit": q.limit or "unlimited",
            "most at once": q.most_at_once,
        }
        for q in summary.queues
    ]
    names = [q.name for q in summary.queues]
    # The workers started here, even one that ran nothing, then any that joined from elsewhere.
    order = [*worker_order, *sorted(set(summary.ran) - set(worker_order))]
    ran = {w: summary.ran.get(w, Counter()) for w in order}
    workers = [
        {
            "worker": w,
            "tags": sorted(tags_of.get(w, ())),
            **{n: ran[w][n] for n in names},
            "total": sum(ran[w].values()),
        }
        for w in order
    ]
    lines = ["", "Summary, from the job records (started_at to finished_at):", ""]
    lines += table(rows, SUMMARY_COLUMNS).split("\n")
    lines += [
        "",
        "Jobs per worker:",
        "",
        *table(workers, ("worker", "tags", *names, "total")).split("\n"),
        "",
    ]
    return lines + _verdict(summary, elapsed, order)


def _verdict(summary: Summary, elapsed: float, workers: Sequence[str]) -> list[str]:
    if summary.problems:
        return ["FAILED:"] + [f"  - {p}" for p in summary.problems]
    lines = []
    for q in summary.queues:
        if q.limit:
            lines.append(f"ok: {q.name} ran at most {q.most_at_once} jobs at once (limit {q.limit})")
        if q.tags:
            ran_on = sorted(w for w, c in summary.ran.items() if c[q.name])
            others = [w for w in workers if w not in ran_on]
            lines.append(
                f"ok: {q.name} jobs ran only on workers tagged {', '.join(q.tags)}: {', '.join(ran_on)}"
                + (f" (none on {', '.join(others)})" if others else "")
            )
    total = sum(q.jobs for q in summary.queues)
    lines.append(f"ok: all {total} jobs succeeded in {elapsed:.1f}s")
    return lines


# -- progress views ---------------------------------------------------------------


class LineView:
    """A progress line every LINE_SECONDS: for pipes, logs and CI."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.next_at = 0.0

    def show(self, progress: Sequence[QueueProgress], elapsed: float, final: bool) -> None:
        if final or elapsed >= self.next_at:
            print(f"[{elapsed:5.1f}s] " + " | ".join(p.line() for p in progress), file=self.out, flush=True)
            self.next_at = elapsed + LINE_SECONDS


class LiveView:
    """A table redrawn in place with ANSI cursor moves (no curses needed)."""

    def __init__(self, out: TextIO, footer: str) -> None:
        self.out = out
        self.footer = footer
        self.drawn = 0

    def show(self, progress: Sequence[QueueProgress], elapsed: float, final: bool) -> None:
        lines = table([p.row() for p in progress], PROGRESS_COLUMNS).split("\n")
        lines.append(
            f"{elapsed:5.1f}s  {self.footer}" if not final else f"{elapsed:5.1f}s  all jobs finished"
        )
        text = f"\x1b[{self.drawn}A" if self.drawn else ""
        text += "".join(f"\r{line}\x1b[K\n" for line in lines)
        self.out.write(text)
        self.out.flush()
        self.drawn = len(lines)


# -- the run ------------------------------------------------------------------------
