"""Per-job settings, kept apart from the function's own keyword arguments."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from . import defaults
from .checks import check_int, check_job_id, check_seconds, check_unique_key
from .codec import pack, unpack
from .errors import ConfigurationError
from .retry import RetryPolicy
from .when import check_aware, seconds_until

_STORED = ("timeout", "result_ttl", "retries", "backoff", "backoff_max", "retry_on", "unique_key", "priority")
#: What enqueue does when the job's unique key is held by another job.
ON_DUPLICATE = ("return", "raise")


@dataclass(frozen=True)
class JobOptions:
    """Settings of one job. Unset (None) means: the queue's setting.

    ``delay`` runs the job that many seconds after it is enqueued; ``at`` (an aware
    datetime) at that instant, at once when it has passed. Not both.

    ``unique_key``: at most one queued, scheduled, deferred or running job of the queue
    holds it; enqueuing another returns the job that holds it (``Job.duplicate`` is True),
    or with ``on_duplicate="raise"`` raises DuplicateJob. ``depends_on``: Jobs (of any
    queue) or job ids the job waits for; it runs once all succeeded, and is cancelled
    when one fails for good, is cancelled or dead-lettered, unless ``allow_failure``.

    ``priority``: 0 (the default) to 9; among the queue's waiting jobs a higher priority
    runs first, jobs of one priority in the order they were enqueued. A retried, delayed,
    deferred or requeued job keeps its priority; a job given back after its worker died or
    stopped runs before every waiting job (docs/production.md, Priorities).
    """

    job_id: str | None = None
    timeout: float | None = None
    result_ttl: int | None = None
    retries: int | None = None
    backoff: float | None = None
    backoff_max: float | None = None
    retry_on: tuple[str, ...] | None = None
    delay: float | None = None
    unique_key: str | None = None
    on_duplicate: str = "return"
    depends_on: tuple[Any, ...] | None = None
    allow_failure: bool = False
    at: datetime | None = None
    priority: int | None = None

    def __post_init__(self) -> None:
        if self.priority is not None:
            check_int("priority", self.priority, defaults.MIN_PRIORITY, defaults.MAX_PRIORITY)
        if self.job_id is not None:
            check_job_id(self.job_id)
        if self.unique_key is not None:
            check_unique_key(self.unique_key)
        if self.on_duplicate not in ON_DUPLICATE:
            raise ConfigurationError(f"on_duplicate must be 'return' or 'raise', got {self.on_duplicate!r}")
        self._check_parents()
        if self.timeout is not None:
            check_seconds("timeout", self.timeout, defaults.MAX_TIMEOUT, positive=True)
        if self.delay is not None:
            check_seconds("delay", self.delay, defaults.MAX_DELAY, positive=True)
        if self.at is not None:
            check_aware("at", self.at)
            if self.delay is not None:
                raise ConfigurationError("give a job either delay or at, not both")
        if self.result_ttl is not None:
            check_int("result_ttl", self.result_ttl, 1, defaults.MAX_RESULT_TTL)
        if self.retry_on is not None:
            if isinstance(self.retry_on, (str, bytes)):
                raise ConfigurationError(f"retry_on must be a list of exception names, got {self.retry_on!r}")
            object.__setattr__(self, "retry_on", tuple(self.retry_on))
        # Validates retries/backoff the same way a queue's policy is validated.
        RetryPolicy().with_overrides(self.stored())

    def _check_parents(self) -> None:
        parents = self.depends_on
        if parents is not None:
            if isinstance(parents, (str, bytes)) or not isinstance(parents, (list, tuple)):
                raise ConfigurationError(f"depends_on must be a list of jobs or job ids, got {parents!r}")
            if len(parents) > defaults.MAX_PARENTS:
                raise ConfigurationError(
                    f"depends_on names {len(parents)} jobs, more than {defaults.MAX_PARENTS}"
                )
            for parent in parents:
                if not (isinstance(parent, str) and parent) and not hasattr(parent, "queue"):
                    raise ConfigurationError(f"depends_on takes Jobs or job ids, got {parent!r}")
            object.__setattr__(self, "depends_on", tuple(parents) or None)
        if not isinstance(self.allow_failure, bool):
            raise ConfigurationError(f"allow_failure must be True or False, got {self.allow_failure!r}")
        if self.allow_failure and not self.depends_on:
            raise ConfigurationError("allow_failure needs depends_on: it says what a failed parent does")
        if self.depends_on and (self.delay or self.at is not None):
            raise ConfigurationError("a job cannot have both depends_on and a delay (or at)")

    def stored(self) -> dict[str, Any]:
        """The settings kept in the job record (id, delay, on_duplicate and the dependencies
        are used at enqueue only; a dependent's record keeps its parents in fields of its own)."""
        data = {k: getattr(self, k) for k in _STORED if getattr(self, k) is not None}
        if not data.get("priority"):  # 0 is the default: nothing to keep
            data.pop("priority", None)
        if "retry_on" in data:
            data["retry_on"] = list(data["retry_on"])
        return data

    def delay_ms(self, now: float | None = None) -> int:
        """Milliseconds from enqueue until the job is due (0: run now); ``at`` is counted
        from ``now`` (default: this machine's clock)."""
        if self.at is not None:
            return int(seconds_until(self.at, now) * 1000)
        return int(self.delay * 1000) if self.delay else 0

    def blob(self) -> bytes:
        stored = self.stored()
        return pack(stored) if stored else b""


def decode_options(blob: bytes | None) -> dict[str, Any]:
    """The stored options of a job record ({} when none or unreadable)."""
    if not blob:
        return {}
    try:
        value = unpack(blob)
    except Exception:  # a corrupt field must not stop the job from running
        return {}
    return value if isinstance(value, dict) else {}


def stored_timeout(options: Mapping[str, Any]) -> float | None:
    """A record's timeout option; raises ConfigurationError when it is not a usable number."""
    value = options.get("timeout")
    return None if value is None else check_seconds("timeout", value, defaults.MAX_TIMEOUT, positive=True)


def stored_result_ttl(options: Mapping[str, Any], default: int) -> int:
    """A record's result_ttl option, else ``default``; raises ConfigurationError when unusable."""
    value = options.get("result_ttl")
    return default if value is None else check_int("result_ttl", value, 1, defaults.MAX_RESULT_TTL)
