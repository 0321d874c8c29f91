"""Which declared queues a worker consumes: a pure function of what it knows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass

from ..config import QueueConfig
from ..routing import matches


@dataclass(frozen=True)
class Selection:
    """The queues to consume, in order, and warnings as (key, message): log each key once."""

    queues: tuple[str, ...]
    warnings: tuple[tuple[str, str], ...] = ()


def select_queues(
    names: Sequence[str],
    configs: Mapping[str, QueueConfig],
    tags: Set[str],
    explicit: bool,
    excluded: Set[str] = frozenset(),
) -> Selection:
    """Queues among ``names`` that are declared and whose tag patterns ``tags`` match.

    ``explicit`` says the names were given with ``--queues``: then a queue this
    worker cannot consume is worth a warning; among all declared queues it is not.
    ``excluded`` queues are left out whatever their tags (a malformed configuration,
    or jobs this worker cannot import): whoever excluded them logged why.
    """
    chosen: list[str] = []
    warnings: list[tuple[str, str]] = []
    for name in names:
        config = configs.get(name)
        if name in excluded:
            continue
        if config is None:
            warnings.append((name, f"queue {name!r} is not declared; waiting for `rqueues declare {name}`"))
        elif not matches(config.tags, tags):
            if explicit:
                warnings.append((name, f"queue {name!r} needs tags {list(config.tags)} this worker lacks"))
        else:
            chosen.append(name)
    return Selection(tuple(chosen), tuple(warnings))
