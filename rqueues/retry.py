"""Retry policy: whether a failed attempt is retried, and after how long. Pure functions."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from . import defaults
from .checks import check_int, check_seconds
from .errors import ConfigurationError


@dataclass(frozen=True)
class RetryPolicy:
    """``retries`` more attempts after a failure, ``backoff * 2**(n-1)`` seconds apart
    (capped at ``backoff_max``, with equal jitter), only for exceptions named in
    ``retry_on`` when it is not empty (a name matches the class or any base class,
    by bare or dotted name)."""

    retries: int = 0
    backoff: float = defaults.BACKOFF
    backoff_max: float = defaults.BACKOFF_MAX
    retry_on: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        check_int("retries", self.retries, 0, defaults.MAX_RETRIES)
        check_seconds("backoff", self.backoff, defaults.MAX_BACKOFF)
        check_seconds("backoff_max", self.backoff_max, defaults.MAX_BACKOFF)
        if self.backoff_max < self.backoff:
            raise ConfigurationError(
                f"backoff_max must be >= backoff, got {self.backoff_max!r} < {self.backoff!r}"
            )
        if isinstance(self.retry_on, list):
            object.__setattr__(self, "retry_on", tuple(self.retry_on))
        if not isinstance(self.retry_on, tuple) or not all(isinstance(n, str) for n in self.retry_on):
            raise ConfigurationError(f"retry_on must be a list of exception names, got {self.retry_on!r}")

    def delay(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        doublings = min(max(0, attempt - 1), 64)  # 2**64 times any backoff is past the cap
        full = min(float(self.backoff_max), float(self.backoff) * 2.0**doublings)
        jitter: float = rand()
        return full / 2 + jitter * full / 2

    def retries_after(self, attempt: int, exception_names: Iterable[str]) -> bool:
        """True when failed attempt ``attempt`` should be followed by another."""
        if attempt > self.retries:
            return False
        if not self.retry_on:
            return True
        names = set(exception_names)
        return any(name in names for name in self.retry_on)

    def with_overrides(self, options: Mapping[str, Any]) -> RetryPolicy:
        """The policy with a job's own settings applied over the queue's."""
        fields = {k: options[k] for k in ("retries", "backoff", "backoff_max", "retry_on") if k in options}
        if not fields:
            return self
        merged = {**self.__dict__, **fields}
        backoff = merged["backoff"]
        if "backoff_max" not in fields and type(backoff) in (int, float):
            # a job's own longer backoff lifts the queue's cap
            merged["backoff_max"] = max(merged["backoff_max"], backoff)
        return RetryPolicy(**merged)


def exception_names(exc: BaseException) -> tuple[str, ...]:
    """Bare and dotted names of the exception's class and its bases, for retry_on."""
    names = []
    for cls in type(exc).__mro__:
        names.append(cls.__name__)
        names.append(f"{cls.__module__}.{cls.__qualname__}")
    return tuple(names)
