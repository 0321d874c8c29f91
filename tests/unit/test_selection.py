"""Which declared queues a worker consumes (select_queues), one row per case."""

from __future__ import annotations

import pytest

from rqueues.config import QueueConfig
from rqueues.worker.selection import select_queues

CONFIGS = {
    "cpu": QueueConfig("cpu"),
    "gpu": QueueConfig("gpu", tags=("has=gpu",)),
    "refused": QueueConfig("refused"),
}


@pytest.mark.parametrize(
    ("names", "tags", "explicit", "excluded", "queues", "warned"),
    [
        (["cpu", "gpu"], {"*"}, False, set(), ("cpu",), ()),
        (["cpu", "gpu"], {"has=gpu"}, False, set(), ("cpu", "gpu"), ()),
        (["cpu", "gpu"], {"*"}, True, set(), ("cpu",), ("gpu",)),  # named with --queues: say why not
        (["cpu", "nowhere"], {"*"}, True, set(), ("cpu",), ("nowhere",)),
        (["cpu", "refused"], {"*"}, False, {"refused"}, ("cpu",), ()),  # this worker cannot run its jobs
        (["cpu", "broken"], {"*"}, True, {"broken"}, ("cpu",), ()),  # malformed config: logged elsewhere
        (["gpu"], {"has=gpu"}, True, {"gpu"}, (), ()),
    ],
)
def test_select_queues(
    names: list[str],
    tags: set[str],
    explicit: bool,
    excluded: set[str],
    queues: tuple[str, ...],
    warned: tuple[str, ...],
) -> None:
    selection = select_queues(names, CONFIGS, tags, explicit=explicit, excluded=excluded)
    assert selection.queues == queues
    assert tuple(key for key, _ in selection.warnings) == warned


def test_warnings_name_the_queue_and_what_is_missing() -> None:
    [(_, lacking)] = select_queues(["gpu"], CONFIGS, set(), explicit=True).warnings
    assert "gpu" in lacking and "has=gpu" in lacking
    [(_, undeclared)] = select_queues(["nope"], CONFIGS, set(), explicit=True).warnings
    assert "rqueues declare nope" in undeclared
