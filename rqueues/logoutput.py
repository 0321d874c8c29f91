"""Log lines on standard error: plain text or one JSON object per line, buffered, and a
batch path for the job log lines a busy worker writes thousands of a second.

``logging`` builds a LogRecord per line (clock, thread, process, a dict of fields) and
formats it through a Formatter: about 15 us a line, a third of a no-op job's cost.
``lines_sink`` finds when the lines of a logger would reach only a BufferedStderr with
one of the formats below; ``BufferedStderr.emit_lines`` then writes what
``Formatter.format`` would have written, for a batch of lines at once, without the
records. Anywhere else (a handler of the application's, a filter) lines go through
``logging`` as usual.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, TextIO

TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: Attributes every LogRecord has; anything else on a record came from ``extra``.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}

#: One line of a batch: the message with its %-arguments, and the record's ``extra`` fields.
Line = tuple[str, tuple[object, ...], Mapping[str, object]]


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (ISO 8601 UTC), level, logger, message, the record's
    ``extra`` fields (queue, function, job_id, attempt, duration_s, outcome, ...) and
    ``exception`` when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        out = _json_head(record.created, record.levelname, record.name, record.getMessage())
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def _json_head(created: float, level: str, name: str, message: str) -> dict[str, Any]:
    when = datetime.fromtimestamp(created, timezone.utc).isoformat(timespec="milliseconds")
    return {"time": when, "level": level, "logger": name, "message": message}


class _TextClock:
    """``Formatter.formatTime``'s default text (local time, then ',' and milliseconds),
    the strftime done once a second."""

    def __init__(self) -> None:
        self._second = -1
        self._text = ""

    def __call__(self, created: float) -> str:
        second = int(created)
        if second != self._second:
            self._second, self._text = second, time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
        return f"{self._text},{int((created - second) * 1000):03d}"


class BufferedStderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Standard error through a buffer: a job's log line costs no write of its own.

    Warnings and errors are written at once; other lines within FLUSH_SECONDS (a
    flusher thread sees to it when the worker goes quiet) and at exit. A worker
    killed with SIGKILL loses at most that much of its INFO lines.
    """

    FLUSH_SECONDS = 0.2

    def __init__(self, stream: TextIO | None = None) -> None:
        if stream is None:
            stream = open(sys.stderr.fileno(), "w", buffering=1 << 16, closefd=False, errors="replace")
        super().__init__(stream)
        self._dirty = False
        self.style: str | None = None  # 'text' or 'json' when its formatter is one of this module's
        self._clock = _TextClock()
        self._flusher = threading.Thread(target=self._flush_now_and_then, name="rqueues-log", daemon=True)
        self._flusher.start()

    def setFormatter(self, fmt: logging.Formatter | None) -> None:
        super().setFormatter(fmt)
        if type(fmt) is JsonFormatter:
            self.style = "json"
        elif type(fmt) is logging.Formatter and fmt._fmt == TEXT and fmt.datefmt is None:
            self.style = "text"
        else:
            self.style = None

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.stream.write(self.format(record) + self.terminator)
            if record.levelno >= logging.WARNING:
                self.flush()
            else:
                self._dirty = True
        except Exception:
            self.handleError(record)

    def emit_lines(self, level: int, name: str, lines: Sequence[Line]) -> None:
        """Write ``lines`` of logger ``name`` at ``level`` as this handler's format would."""
        created = time.time()
        levelname = logging.getLevelName(level)
        if self.style == "json":
            rows = [
                json.dumps({**_json_head(created, levelname, name, msg % args), **extra}, default=str)
                for msg, args, extra in lines
            ]
        else:
            head = f"{self._clock(created)} {levelname} {name}: "
            rows = [head + (msg % args) for msg, args, _ in lines]
        rows.append("")
        with self.lock or contextlib.nullcontext():
            self.stream.write(self.terminator.join(rows))
            self._dirty = True
        if level >= logging.WARNING:
            self.flush()

    def flush(self) -> None:
        self._dirty = False
        super().flush()

    def _flush_now_and_then(self) -> None:
        while True:
            time.sleep(self.FLUSH_SECONDS)
            if self._dirty:
                with self.lock or contextlib.nullcontext():
                    self.flush()


def lines_sink(logger: logging.Logger, level: int) -> BufferedStderr | None:
    """The handler to give ``logger``'s lines at ``level`` to in a batch, or None when they
    must go through ``logging`` (another handler or a filter would see them; or they are
    not enabled: check ``isEnabledFor`` first)."""
    found: list[logging.Handler] = []
    current: logging.Logger | None = logger
    while current is not None:
        if current.filters:
            return None
        found.extend(h for h in current.handlers if level >= h.level)
        if not current.propagate:
            break
        current = current.parent
    if len(found) != 1:
        return None
    sink = found[0]
    if not isinstance(sink, BufferedStderr) or sink.style is None or sink.filters:
        return None
    return sink


_BUFFERED: list[BufferedStderr] = []  # one per process, however often logging is set up


def stderr_handler() -> logging.StreamHandler:  # type: ignore[type-arg]
    """This process's BufferedStderr, or a plain handler when stderr has no file (a test runner)."""
    try:
        sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # stderr replaced: write to it as it is
        return logging.StreamHandler(sys.stderr)
    if not _BUFFERED:
        _BUFFERED.append(BufferedStderr())
    return _BUFFERED[0]
