"""levels.py: an entry id names the stream (priority level) that holds it."""

from __future__ import annotations

import pytest

from rqueues import JobOptions
from rqueues.backend.keys import QueueKeys
from rqueues.backend.levels import RETURNED, level_of, ordered


@pytest.mark.parametrize(
    ("entry", "level"),
    [
        ("1700000000000-0", 0),
        ("1700000000000-999999999999999999", 0),  # 18 digits: still a stream's own sequence
        ("1700000000000-1000000000000000000", 1),
        ("1700000000000-9000000000000000042", 9),
        ("1700000000000-10000000000000000007", RETURNED),
        ("not-an-entry", 0),
    ],
)
def test_level_of(entry: str, level: int) -> None:
    assert level_of(entry) == level


def test_stream_of_and_the_order_levels_are_read_in() -> None:
    keys = QueueKeys("rqueues", "q")
    assert keys.stream_of("1-0") == "rqueues:{q:q}:stream"
    assert keys.stream_of("1-7000000000000000000") == "rqueues:{q:q}:stream:p7"
    assert ordered([b"3", b"10", b"9", b"junk"]) == [10, 9, 3, 0]
    assert ordered([]) == [0]


def test_priority_is_stored_only_when_not_the_default() -> None:
    assert "priority" not in JobOptions(priority=0).stored()
    assert JobOptions(priority=4).stored() == {"priority": 4}
    assert JobOptions().stored() == {}
