"""The one liveness rule shared by the reaper, the snapshot and the workers listing."""

from __future__ import annotations

import pytest

from rqueues import defaults
from rqueues.errors import ConfigurationError
from rqueues.liveness import (
    MIN_DEAD_AFTER,
    check_dead_after,
    death_reason,
    is_live,
    is_orphan,
    live_workers,
)


@pytest.mark.parametrize(
    ("beat_ms", "now_ms", "dead_after", "live"),
    [
        (10_000, 10_000, 5.0, True),
        (10_000, 15_000, 5.0, True),  # exactly dead_after old: still alive
        (10_000, 15_001, 5.0, False),
        (10_000, 9_000, 5.0, True),  # stamped ahead of the reader's clock
        (0, 2_000, 2.0, True),
        (0, 2_001, 2.0, False),
    ],
)
def test_is_live(beat_ms: int, now_ms: int, dead_after: float, live: bool) -> None:
    assert is_live(beat_ms, now_ms, dead_after) is live


def test_live_workers() -> None:
    beats = {"a": 100_000, "b": 94_000, "c": 95_000}
    assert live_workers(beats, 100_000, 5.0) == {"a", "c"}
    assert live_workers({}, 100_000) == set()


@pytest.mark.parametrize(
    ("expiry", "now_ms", "orphan"),
    [(None, 1000, True), (999, 1000, True), (1000, 1000, False), (5000, 1000, False)],
)
def test_is_orphan(expiry: float | None, now_ms: int, orphan: bool) -> None:
    assert is_orphan(expiry, now_ms) is orphan


@pytest.mark.parametrize(
    ("dead_after", "heartbeat", "ok"),
    [(5.0, 1.0, True), (2.0, 1.0, True), (1.9, 1.0, False), (1.0, 0.5, True), (0.9, 0.5, False)],
)
def test_dead_after_leaves_room_for_a_late_heartbeat(dead_after: float, heartbeat: float, ok: bool) -> None:
    if ok:
        assert check_dead_after(dead_after, heartbeat) == dead_after
    else:
        with pytest.raises(ConfigurationError, match="heartbeat"):
            check_dead_after(dead_after, heartbeat)


def test_defaults_are_the_documented_ones() -> None:
    assert defaults.DEAD_AFTER == 5.0
    assert MIN_DEAD_AFTER == 2 * defaults.HEARTBEAT_SECONDS


def test_death_reason_names_the_worker_and_the_age() -> None:
    assert death_reason("w1", 1_000, 8_500) == "worker w1 died (no heartbeat for 7.5s)"
    assert death_reason("w2", None, 8_500) == "worker w2 died (not registered)"
