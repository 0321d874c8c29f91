"""Per-job settings, kept apart from the function's own keyword arguments."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from . import defaults
from .checks import check_int, check_job_id, check_seconds
from .codec import pack, unpack
from .errors import ConfigurationError
from .retry import RetryPolicy
from .when import check_aware, seconds_until

_STORED = ("timeout", "result_ttl", "retries", "backoff", "backoff_max", "retry_on")


@dataclass(frozen=True)
class JobOptions:
    """Settings of one job. Unset (None) means: the queue's setting.

    ``delay`` runs the job that many seconds after it is enqueued; ``at`` (an aware
    datetime) at that instant, at once when it has passed. Not both.
    """

    job_id: str | None = None
    timeout: float | None = None
    result_ttl: int | None = None
    retries: int | None = None
    backoff: float | None = None
    backoff_max: float | None = None
    retry_on: tuple[str, ...] | None = None
    delay: float | None = None
    at: datetime | None = None

    def __post_init__(self) -> None:
        if self.job_id is not None:
            check_job_id(self.job_id)
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

    def stored(self) -> dict[str, Any]:
        """The settings kept in the job record (id and delay are used at enqueue only)."""
        data = {k: getattr(self, k) for k in _STORED if getattr(self, k) is not None}
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
