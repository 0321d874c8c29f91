"""A queue's declared settings and their form in the config hash."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from . import defaults
from .errors import ConfigurationError
from .retry import RetryPolicy
from .routing import check_patterns

DEFAULT_RESULT_TTL = defaults.RESULT_TTL
DEFAULT_MAX_RECLAIMS = defaults.MAX_RECLAIMS


@dataclass(frozen=True)
class QueueConfig:
    """Settings of one queue, as declared. concurrency 0 means unlimited."""

    name: str
    concurrency: int = 0
    tags: tuple[str, ...] = field(default_factory=tuple)
    result_ttl: int = DEFAULT_RESULT_TTL
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    max_reclaims: int = DEFAULT_MAX_RECLAIMS
    version: int = 0

    def __post_init__(self) -> None:
        _check_int("concurrency", self.concurrency, minimum=0)
        _check_int("result_ttl", self.result_ttl, minimum=1)
        _check_int("max_reclaims", self.max_reclaims, minimum=0)
        object.__setattr__(self, "tags", check_patterns(self.tags))

    def to_hash(self) -> dict[str, str | int | float]:
        return {
            "concurrency": self.concurrency,
            "tags": json.dumps(list(self.tags)),
            "result_ttl": self.result_ttl,
            "retries": self.retry.retries,
            "backoff": self.retry.backoff,
            "backoff_max": self.retry.backoff_max,
            "retry_on": json.dumps(list(self.retry.retry_on)),
            "max_reclaims": self.max_reclaims,
        }

    @classmethod
    def from_hash(cls, name: str, raw: Mapping[bytes, bytes]) -> QueueConfig:
        get = {k.decode(): v.decode() for k, v in raw.items()}
        return cls(
            name=name,
            concurrency=int(get.get("concurrency", 0)),
            tags=tuple(json.loads(get.get("tags", "[]"))),
            result_ttl=int(get.get("result_ttl", DEFAULT_RESULT_TTL)),
            retry=RetryPolicy(
                retries=int(get.get("retries", 0)),
                backoff=float(get.get("backoff", defaults.BACKOFF)),
                backoff_max=float(get.get("backoff_max", defaults.BACKOFF_MAX)),
                retry_on=tuple(json.loads(get.get("retry_on", "[]"))),
            ),
            max_reclaims=int(get.get("max_reclaims", DEFAULT_MAX_RECLAIMS)),
            version=int(get.get("version", 0)),
        )


def _check_int(name: str, value: object, minimum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ConfigurationError(f"{name} must be an integer >= {minimum}, got {value!r}")
