"""Which queues a worker consumes: worker tags matched against queue tag patterns."""

from __future__ import annotations

import platform
import re
import socket
from collections.abc import Iterable

from .errors import ConfigurationError


def automatic_tags(worker_id: str, gpus: int = 0) -> set[str]:
    """Tags every worker carries besides its own; ``gpu`` and ``gpus=N`` with N GPUs."""
    return {
        *(("gpu", f"gpus={gpus}") if gpus > 0 else ()),
        "*",
        f"hostname={socket.gethostname()}",
        f"worker_id={worker_id}",
        f"python={platform.python_version()}",
        f"os={platform.system().lower()}",
        f"arch={platform.machine().lower()}",
    }


def check_patterns(patterns: Iterable[str]) -> tuple[str, ...]:
    """Validate tag patterns (regular expressions); the error names the bad one."""
    checked = []
    for pattern in patterns:
        if not isinstance(pattern, str) or not pattern:
            raise ConfigurationError(f"invalid tag pattern {pattern!r}: expected a non-empty string")
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ConfigurationError(f"invalid tag pattern {pattern!r}: {exc}") from exc
        checked.append(pattern)
    return tuple(sorted(set(checked)))


def parse_tags(values: Iterable[str]) -> set[str]:
    """Split CLI tag arguments: repeated options and comma-separated lists both work."""
    return {tag.strip() for value in values for tag in value.split(",") if tag.strip()}


def matches(patterns: Iterable[str], tags: Iterable[str]) -> bool:
    """A queue runs on a worker when each of its patterns fully matches one of the worker's tags."""
    tags = list(tags)
    return all(any(re.fullmatch(p, t) for t in tags) for p in patterns)
