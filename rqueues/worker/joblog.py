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
from .execution import Claimed, Outcome
from .observer import Observer

log = logging.getLogger("rqueues.jobs")

#: Outcomes whose end line is a warning, with the error's traceback.
_FAILED = {"failed": logging.ERROR, "retry": logging.WARNING, "dead": logging.ERROR}


def _line(level: int, msg: str, *args: object, extra: dict[str, object]) -> None:
    """``log.log`` without its search of the stack for the caller (a tenth of a line's cost at
    thousands of lines a second): the record names this module, line 0."""
    if log.isEnabledFor(level):
        log.handle(log.makeRecord(log.name, level, __file__, 0, msg, args, None, None, extra))


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
        for job in jobs:
            _line(
                logging.INFO, "job %s started: %s on %s, attempt %d", job.job_id, job.function, queue,
                job.attempts, extra=job_fields(job),
            )  # fmt: skip

    def stored(self, outcomes: Sequence[Outcome]) -> None:
        for outcome in outcomes:
            if outcome.state:  # '' is a consumed tombstone: a job cancelled before it ran
                self._end(outcome, outcome.claimed.ran_for)

    def _end(self, outcome: Outcome, seconds: float) -> None:
        job = outcome.claimed
        state = outcome.state or "cancelled"
        fields = {**job_fields(job), "duration_s": round(seconds, 6), "outcome": state}
        level = _FAILED.get(state)
        if level is None:
            if self._wants_lines(job.queue):
                line = (job.job_id, state, seconds, job.function)
                _line(logging.INFO, "job %s %s in %.3fs: %s", *line, extra=fields)
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
