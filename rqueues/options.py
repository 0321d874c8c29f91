"""Per-job settings, kept apart from the function's own keyword arguments."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .codec import pack, unpack
from .errors import ConfigurationError
from .retry import RetryPolicy

_STORED = ("timeout", "result_ttl", "retries", "backoff", "backoff_max", "retry_on")


@dataclass(frozen=True)
class JobOptions:
    """Settings of one job. Unset (None) means: the queue's setting.

    ``delay`` runs the job that many seconds after it is enqueued.
    """

    job_id: str | None = None
    timeout: float | None = None
    result_ttl: int | None = None
    retries: int | None = None
    backoff: float | None = None
    backoff_max: float | None = None
    retry_on: tuple[str, ...] | None = None
    delay: float | None = None

    def __post_init__(self) -> None:
        if self.job_id is not None and (
            not isinstance(self.job_id, str)
            or not self.job_id
            or ":" in self.job_id
            or len(self.job_id) > 128
        ):
            raise ConfigurationError(f"invalid job id {self.job_id!r}: 1-128 characters, no ':'")
        for name in ("timeout", "delay"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, (int, float)) and value > 0):
                raise ConfigurationError(f"{name} must be > 0 seconds, got {value!r}")
        if self.result_ttl is not None and (not isinstance(self.result_ttl, int) or self.result_ttl < 1):
            raise ConfigurationError(f"result_ttl must be an integer >= 1 second, got {self.result_ttl!r}")
        if self.retry_on is not None:
            object.__setattr__(self, "retry_on", tuple(self.retry_on))
        # Validates retries/backoff the same way a queue's policy is validated.
        RetryPolicy().with_overrides(self.stored())

    def stored(self) -> dict[str, Any]:
        """The settings kept in the job record (id and delay are used at enqueue only)."""
        data = {k: getattr(self, k) for k in _STORED if getattr(self, k) is not None}
        if "retry_on" in data:
            data["retry_on"] = list(data["retry_on"])
        return data

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
