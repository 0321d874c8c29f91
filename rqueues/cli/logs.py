"""Log output of the long-running commands: plain lines or one JSON object per line."""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import threading
import time
from datetime import datetime, timezone
from typing import Any

import click

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: Attributes every LogRecord has; anything else on a record came from ``extra``.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (ISO 8601 UTC), level, logger, message, the record's
    ``extra`` fields (queue, function, job_id, attempt, duration_s, outcome, ...) and
    ``exception`` when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


class BufferedStderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Standard error through a buffer: a job's log line costs no write of its own.

    Warnings and errors are written at once; other lines within FLUSH_SECONDS (a
    flusher thread sees to it when the worker goes quiet) and at exit. A worker
    killed with SIGKILL loses at most that much of its INFO lines.
    """

    FLUSH_SECONDS = 0.2

    def __init__(self) -> None:
        super().__init__(open(sys.stderr.fileno(), "w", buffering=1 << 16, closefd=False, errors="replace"))
        self._dirty = False
        self._flusher = threading.Thread(target=self._flush_now_and_then, name="rqueues-log", daemon=True)
        self._flusher.start()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.stream.write(self.format(record) + self.terminator)
            if record.levelno >= logging.WARNING:
                self.flush()
            else:
                self._dirty = True
        except Exception:
            self.handleError(record)

    def flush(self) -> None:
        self._dirty = False
        super().flush()

    def _flush_now_and_then(self) -> None:
        while True:
            time.sleep(self.FLUSH_SECONDS)
            if self._dirty:
                with self.lock or contextlib.nullcontext():
                    self.flush()


_BUFFERED: list[BufferedStderr] = []  # one per process, however often logging is set up


def _stderr_handler() -> logging.StreamHandler:  # type: ignore[type-arg]
    try:
        sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # stderr replaced (a test runner): write to it as it is
        return logging.StreamHandler(sys.stderr)
    if not _BUFFERED:
        _BUFFERED.append(BufferedStderr())
    return _BUFFERED[0]


def setup_logging(level: str, fmt: str = "text") -> None:
    """Send log records to stderr in ``fmt`` ('text' or 'json') from ``level`` up."""
    handler = _stderr_handler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


log_level_option = click.option(
    "--log-level",
    type=click.Choice(LEVELS, case_sensitive=False),
    default="INFO",
    show_default=True,
    help="Least severe log lines shown.",
)
log_format_option = click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Plain lines, or one JSON object per line for log shippers.",
)
