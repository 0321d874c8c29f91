"""The reaper's health gate: no reaping until Redis has answered for ``settle`` seconds since an outage."""

from __future__ import annotations

import pytest

from rqueues.liveness import Health


@pytest.fixture
def clock() -> list[float]:
    """A hand-stepped monotonic clock, given to each Health."""
    return [1000.0]


def test_not_settled_before_redis_has_answered(clock: list[float]) -> None:
    health = Health(settle=5.0, clock=lambda: clock[0])
    assert not health.settled()
    clock[0] += 100
    assert not health.settled()  # time alone settles nothing


def test_settles_after_answering_for_the_whole_period(clock: list[float]) -> None:
    health = Health(settle=5.0, clock=lambda: clock[0])
    health.ok()
    clock[0] += 4.999
    health.ok()  # further answers do not restart the period
    assert not health.settled()
    clock[0] += 0.001
    assert health.settled()


def test_a_failure_restarts_the_period(clock: list[float]) -> None:
    health = Health(settle=5.0, clock=lambda: clock[0])
    health.ok()
    clock[0] += 10
    assert health.settled()
    health.failed()  # an outage: every heartbeat in Redis is stale now
    assert not health.settled()
    clock[0] += 1
    health.ok()
    clock[0] += 4.9
    assert not health.settled()  # 5.9 s since the failure, but only 4.9 s of answers
    clock[0] += 0.1
    assert health.settled()
