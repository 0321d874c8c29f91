"""A queue's declared settings and their form in the config hash."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from .errors import ConfigurationError
from .routing import check_patterns

DEFAULT_RESULT_TTL = 86_400


@dataclass(frozen=True)
class QueueConfig:
    """Settings of one queue, as declared. concurrency 0 means unlimited."""

    name: str
    concurrency: int = 0
    tags: tuple[str, ...] = field(default_factory=tuple)
    result_ttl: int = DEFAULT_RESULT_TTL
    version: int = 0

    def __post_init__(self) -> None:
        _check_int("concurrency", self.concurrency, minimum=0)
        _check_int("result_ttl", self.result_ttl, minimum=1)
        object.__setattr__(self, "tags", check_patterns(self.tags))

    def to_hash(self) -> dict[str, str | int]:
        return {
            "concurrency": self.concurrency,
            "tags": json.dumps(list(self.tags)),
            "result_ttl": self.result_ttl,
        }

    @classmethod
    def from_hash(cls, name: str, raw: Mapping[bytes, bytes]) -> QueueConfig:
        get = {k.decode(): v.decode() for k, v in raw.items()}
        return cls(
            name=name,
            concurrency=int(get.get("concurrency", 0)),
            tags=tuple(json.loads(get.get("tags", "[]"))),
            result_ttl=int(get.get("result_ttl", DEFAULT_RESULT_TTL)),
            version=int(get.get("version", 0)),
        )


def _check_int(name: str, value: object, minimum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ConfigurationError(f"{name} must be an integer >= {minimum}, got {value!r}")
