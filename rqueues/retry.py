"""Retry policy: whether a failed attempt is retried, and after how long. Pure functions."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from . import defaults
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
        if not isinstance(self.retries, int) or isinstance(self.retries, bool) or self.retries < 0:
            raise ConfigurationError(f"retries must be an integer >= 0, got {self.retries!r}")
        if not self.backoff >= 0 or not self.backoff_max >= self.backoff:
            raise ConfigurationError(
                f"backoff must be >= 0 and backoff_max >= backoff, got {self.backoff!r}, {self.backoff_max!r}"
            )

    def delay(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        full = min(float(self.backoff_max), float(self.backoff) * 2.0 ** max(0, attempt - 1))
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
        if "retry_on" in fields:
            fields["retry_on"] = tuple(fields["retry_on"])
        merged = {**self.__dict__, **fields}
        if "backoff_max" not in fields:  # a job's own longer backoff lifts the queue's cap
            merged["backoff_max"] = max(merged["backoff_max"], merged["backoff"])
        return RetryPolicy(**merged)


def exception_names(exc: BaseException) -> tuple[str, ...]:
    """Bare and dotted names of the exception's class and its bases, for retry_on."""
    names = []
    for cls in type(exc).__mro__:
        names.append(cls.__name__)
        names.append(f"{cls.__module__}.{cls.__qualname__}")
    return tuple(names)
