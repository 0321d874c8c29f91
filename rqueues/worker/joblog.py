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
from collections.abc import Iterable, Sequence

from ..codec import decode_error
from ..logoutput import Line, lines_sink
from .execution import Claimed, Outcome
from .observer import Observer

log = logging.getLogger("rqueues.jobs")

#: Outcomes whose end line is a warning, with the error's traceback.
_FAILED = {"failed": logging.ERROR, "retry": logging.WARNING, "dead": logging.ERROR}


def _lines(level: int, lines: Sequence[Line]) -> None:
    """Log ``lines`` at ``level``: in one write when only the worker's stderr handler would
    see them (logoutput.lines_sink), else one record each, without ``log.log``'s search of
    the stack for the caller (the record names this module, line 0)."""
    if not lines or not log.isEnabledFor(level):
        return
    sink = lines_sink(log, level)
    if sink is not None:
        sink.emit_lines(level, log.name, lines)
        return
    for msg, args, extra in lines:
        log.handle(log.makeRecord(log.name, level, __file__, 0, msg, args, None, None, dict(extra)))


def job_fields(job: Claimed) -> dict[str, object]:
    return {"queue": job.queue, "function": job.function, "job_id": job.job_id, "attempt": job.attempts}


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
        _lines(
            logging.INFO,
            [(started, (j.job_id, j.function, queue, j.attempts), job_fields(j)) for j in jobs],
        )

    def stored(self, outcomes: Sequence[Outcome]) -> None:
        ends: list[Line] = []
        for outcome in outcomes:
            if outcome.state:  # '' is a consumed tombstone: a job cancelled before it ran
                self._end(outcome, outcome.claimed.ran_for, ends)
        _lines(logging.INFO, ends)

    def _end(self, outcome: Outcome, seconds: float, ends: list[Line]) -> None:
        """Log a failure's line now; add a success's to ``ends``."""
        job = outcome.claimed
        state = outcome.state or "cancelled"
        fields = {**job_fields(job), "duration_s": round(seconds, 6), "outcome": state}
        level = _FAILED.get(state)
        if level is None:
            if self._wants_lines(job.queue):
                ends.append(("job %s %s in %.3fs: %s", (job.job_id, state, seconds, job.function), fields))
            return
        error = decode_error(outcome.blob) if state != "dead" else {"message": outcome.reason}
        what = "will be retried" if state == "retry" else state
        message = f"{error.get('type') or 'error'}: {error.get('message', '')}".strip(": ")
        trace = error.get("traceback") or ""
        log.log(
            level, "job %s %s after %.3fs: %s (%s, attempt %d)%s", job.job_id, what, seconds, message,
            job.function, job.attempts, f"\n{trace.rstrip()}" if trace else "",
            extra={**fields, "error": message},
        )  # fmt: skip
