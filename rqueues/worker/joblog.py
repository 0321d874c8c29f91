"""Job log lines: one when a job starts, one when it ends, a failure's traceback.

Lines go to the ``rqueues.jobs`` logger through ``logging`` (the library
installs no handler). Start lines are written by the dispatcher, end lines by the
acker once the outcome is stored: two threads, so the slot threads that run jobs
never wait on the log handler's lock. Each record carries the job's fields in ``extra``
(``queue``, ``function``, ``job_id``, ``attempt``, and at the end
``duration_s`` and ``outcome``), which ``--log-format json`` prints as keys.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence

from ..codec import decode_error
from ..logoutput import Line, lines_sink
from .execution import Claimed, Outcome
from .observer import Observer

log = logging.getLogger("rqueues.jobs")

#: Outcomes whose end line is a warning, with the error's traceback.
_FAILED = {"failed": logging.ERROR, "retry": logging.WARNING, "dead": logging.ERROR}


#: The fields of a line that only a text handler sees: it prints none of them.
_NO_FIELDS: dict[str, object] = {}


def _lines(level: int, lines: Callable[[bool], Sequence[Line]]) -> None:
    """Log the lines ``lines(fields)`` builds at ``level``: in one write when only the
    worker's stderr handler would see them (logoutput.lines_sink), else one record each,
    without ``log.log``'s search of the stack for the caller (the record names this
    module, line 0). ``fields`` False: the lines' fields are printed nowhere, and need not
    be built (most of a line's cost when the handler writes text)."""
    if not log.isEnabledFor(level):
        return
    sink = lines_sink(log, level)
    if sink is not None:
        if built := lines(sink.style != "text"):
            sink.emit_lines(level, log.name, built)
        return
    for msg, args, extra in lines(True):
        log.handle(log.makeRecord(log.name, level, __file__, 0, msg, args, None, None, dict(extra)))


def job_fields(job: Claimed) -> dict[str, object]:
    return {"queue": job.queue, "function": job.function, "job_id": job.job_id, "attempt": job.attempts}


def _end_fields(job: Claimed, state: str) -> dict[str, object]:
    return {**job_fields(job), "duration_s": round(job.ran_for, 6), "outcome": state}


class JobLog(Observer):
    """Logs each job's start and end at INFO and its failures at WARNING/ERROR.

    ``lines=False`` keeps only the failures (for high-rate queues); ``quiet``
    names queues whose start and end lines are left out.
    """

    def __init__(self, lines: bool = True, quiet: Iterable[str] = ()) -> None:
        self.lines = lines
        self.quiet = frozenset(quiet)

    def _wants_lines(self, queue: str) -> bool:
        return self.lines and queue not in self.quiet and log.isEnabledFor(logging.INFO)

    def claimed(self, queue: str, jobs: Sequence[Claimed]) -> None:
        if not jobs or not self._wants_lines(queue):
            return
        started = "job %s started: %s on %s, attempt %d"

        def lines(fields: bool) -> list[Line]:
            return [
                (started, (j.job_id, j.function, queue, j.attempts), job_fields(j) if fields else _NO_FIELDS)
                for j in jobs
            ]

        _lines(logging.INFO, lines)

    def stored(self, outcomes: Sequence[Outcome]) -> None:
        ends: list[Outcome] = []  # successes: their lines are written together
        for outcome in outcomes:
            if outcome.state:  # '' is a consumed tombstone: a job cancelled before it ran
                self._end(outcome, ends)
        if not ends:
            return

        def lines(fields: bool) -> list[Line]:
            ended = "job %s %s in %.3fs: %s"
            return [
                (ended, (o.claimed.job_id, o.state, o.claimed.ran_for, o.claimed.function),
                 _end_fields(o.claimed, o.state) if fields else _NO_FIELDS)
                for o in ends
            ]  # fmt: skip

        _lines(logging.INFO, lines)

    def _end(self, outcome: Outcome, ends: list[Outcome]) -> None:
        """Log a failure's line now; add a success with a line to ``ends``."""
        job = outcome.claimed
        seconds = job.ran_for
        state = outcome.state or "cancelled"
        level = _FAILED.get(state)
        if level is None:
            if self._wants_lines(job.queue):
                ends.append(outcome)
            return
        fields = _end_fields(job, state)
        error = decode_error(outcome.blob) if state != "dead" else {"message": outcome.reason}
        what = "will be retried" if state == "retry" else state
        message = f"{error.get('type') or 'error'}: {error.get('message', '')}".strip(": ")
        trace = error.get("traceback") or ""
        log.log(
            level, "job %s %s after %.3fs: %s (%s, attempt %d)%s", job.job_id, what, seconds, message,
            job.function, job.attempts, f"\n{trace.rstrip()}" if trace else "",
            extra={**fields, "error": message},
        )  # fmt: skip
