"""Which queues a worker consumes: declared names x configs x tags x explicit --queues."""

from __future__ import annotations

import pytest

from rqueues.config import QueueConfig
from rqueues.worker.selection import select_queues

CONFIGS = {
    "default": QueueConfig("default"),
    "gpu": QueueConfig("gpu", tags=("has=gpu",)),
    "heavy": QueueConfig("heavy", concurrency=2),
}


@pytest.mark.parametrize(
    ("names", "tags", "explicit", "queues", "warned"),
    [
        (["default", "gpu", "heavy"], set(), False, ("default", "heavy"), ()),
        (["default", "gpu", "heavy"], {"has=gpu"}, False, ("default", "gpu", "heavy"), ()),
        (["gpu"], set(), True, (), ("gpu",)),  # asked for by name but lacking its tags: say so
        (["gpu"], {"has=gpu"}, True, ("gpu",), ()),
        (["missing", "default"], set(), True, ("default",), ("missing",)),  # not declared yet
        (["heavy", "default"], set(), True, ("heavy", "default"), ()),  # the order given is kept
        ([], set(), False, (), ()),
    ],
)
def test_select_queues(
    names: list[str], tags: set[str], explicit: bool, queues: tuple[str, ...], warned: tuple[str, ...]
) -> None:
    selection = select_queues(names, CONFIGS, tags, explicit)
    assert selection.queues == queues
    assert tuple(key for key, _ in selection.warnings) == warned


def test_warnings_name_the_queue_and_what_is_missing() -> None:
    [(_, lacking)] = select_queues(["gpu"], CONFIGS, set(), explicit=True).warnings
    assert "gpu" in lacking and "has=gpu" in lacking
    [(_, undeclared)] = select_queues(["nope"], CONFIGS, set(), explicit=True).warnings
    assert "rqueues declare nope" in undeclared
