"""Every error rqueues raises derives from RqueuesError."""

from __future__ import annotations


class RqueuesError(Exception):
    """Root of every rqueues error."""


class ConfigurationError(RqueuesError, ValueError):
    """A setting, tag pattern or option is invalid."""


class QueueNotDeclared(RqueuesError, LookupError):
    """The queue was never declared in this Redis."""

    def __init__(self, name: str) -> None:
        self.queue = name
        super().__init__(
            f"queue {name!r} is not declared; declare it first with "
            f"`rqueues declare {name}` or Queue({name!r}, connection=...).declare()"
        )


class SerializationError(RqueuesError, TypeError):
    """A value cannot be carried by msgpack, or a payload cannot be decoded."""


class PayloadTooLarge(SerializationError):
    """Arguments or a result are larger than the configured limit, or than Redis accepts."""


class UnknownFunction(RqueuesError, LookupError):
    """The job names a function the worker may not or cannot run."""


class JobNotFound(RqueuesError, LookupError):
    """No job record with this id exists (never created, or expired)."""


class WaitTimeout(RqueuesError, TimeoutError):
    """Job.wait() gave up before the job finished."""


class JobCancelled(RqueuesError):
    """The job was cancelled before it could finish."""


class JobFailed(RqueuesError):
    """The job raised; carries the remote exception type, message and traceback."""

    def __init__(self, job_id: str, exc_type: str, message: str, traceback: str) -> None:
        self.job_id = job_id
        self.exc_type = exc_type
        self.message = message
        self.traceback = traceback
        super().__init__(f"job {job_id} failed: {exc_type}: {message}")

    def __str__(self) -> str:
        head = f"job {self.job_id} failed: {self.exc_type}: {self.message}"
        return f"{head}\n\nRemote traceback:\n{self.traceback}" if self.traceback else head


class JobTimeout(RqueuesError):
    """A job ran past its timeout (recorded as the job's error)."""


class JobOutOfMemory(RqueuesError):
    """A process-executor job's child went past its queue's memory limit and was killed."""


class ChildDied(RqueuesError):
    """The child process running a process-executor job died (a signal, a crash, the OOM killer)."""


class RedisUnavailable(RqueuesError, ConnectionError):
    """Redis could not be reached."""


class RedisOutOfMemory(RqueuesError):
    """Redis refuses writes: its memory reached maxmemory under the noeviction policy."""

    def __init__(self, server: str = "") -> None:
        self.server = server
        super().__init__(
            f"Redis{f' at {server}' if server else ''} is out of memory and refuses writes (used "
            "memory reached maxmemory with maxmemory-policy noeviction); nothing was written. "
            "Free memory (finished records expire after their result TTL) or raise maxmemory"
        )


class DuplicateJob(RqueuesError, ValueError):
    """A job with this id already exists, or another job holds this unique key
    (``job_id`` then names it)."""

    def __init__(self, message: str, job_id: str | None = None) -> None:
        self.job_id = job_id
        super().__init__(message)


class QueueBusy(RqueuesError):
    """The queue has running jobs or live consumers; the message says how to proceed."""
