"""Which cron ticks are due (rqueues/schedule.py): catch-up after an outage, DST, bad input."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from rqueues import ConfigurationError
from rqueues.schedule import GRACE, Schedule, check_cron_name, due_ticks

UTC = timezone.utc


def at(*parts: int) -> float:
    return datetime(*parts, tzinfo=UTC).timestamp()  # type: ignore[misc]


EVERY_5 = Schedule("*/5 * * * *")
T = at(2026, 6, 1, 12, 0)


@pytest.mark.parametrize(
    ("last", "now", "catch_up", "expected"),
    [
        (T - 1, T, 1, [T]),  # a tick exactly at now is due
        (T, T + 299, 1, []),  # the next is not yet
        (T, T + 300, 1, [T + 300]),
        (T - 3600, T, 1, [T]),  # an hour down: one run stands for the 12 missed ticks
        (T - 3600, T, 3, [T - 600, T - 300, T]),  # the newest 3, oldest first
        (T - 600, T + 10, 5, [T - 300, T]),  # no more than were missed
        (T - 3600, T + 10, 0, [T]),  # catch-up 0: the tick noticed in time still runs
        (T - 3600, T + GRACE + 1, 0, []),  # ... a missed one does not
    ],
)
def test_due_ticks(last: float, now: float, catch_up: int, expected: list[float]) -> None:
    assert due_ticks(EVERY_5, int(last * 1000), now, catch_up) == [int(t * 1000) for t in expected]


def test_seconds_field() -> None:
    every_2s = Schedule("*/2 * * * * *")
    assert every_2s.next_after(T) == T + 2
    assert due_ticks(every_2s, int(T * 1000), T + 5.5, 10) == [int((T + s) * 1000) for s in (2, 4)]


def test_dst_follows_cronsim_debian_rules() -> None:
    paris = Schedule("30 2 * * *", "Europe/Paris")
    # 29 March 2026: 02:00 -> 03:00 in Paris; the skipped 02:30 runs right after the jump.
    assert paris.next_after(at(2026, 3, 28, 23, 0)) == at(2026, 3, 29, 1, 0)
    # 25 October 2026: 03:00 -> 02:00; 02:30 comes twice, the job runs once (the first).
    first = paris.next_after(at(2026, 10, 24, 23, 0))
    assert first == at(2026, 10, 25, 0, 30)
    assert paris.next_after(first or 0) == at(2026, 10, 26, 1, 30)
    # Finer than hourly: the clock as it is (no run invented in the skipped hour).
    hourly_15 = Schedule("*/15 * * * *", "Europe/Paris")
    assert hourly_15.next_after(at(2026, 3, 29, 0, 50)) == at(2026, 3, 29, 1, 0)


@pytest.mark.parametrize(
    ("expr", "tz", "message"),
    [
        ("* * * *", "UTC", "expected 5 fields"),
        ("61 * * * *", "UTC", "invalid cron expression"),
        ("* * 31 2 *", "UTC", "invalid cron expression"),
        ("*/5 * * * *", "Mars/Olympus", "unknown timezone"),
    ],
)
def test_bad_schedules_are_refused_naming_the_problem(expr: str, tz: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Schedule(expr, tz)


@pytest.mark.parametrize("name", ["", "a b", "x:y", "a" * 65])
def test_bad_names_are_refused(name: str) -> None:
    with pytest.raises(ConfigurationError, match="invalid schedule name"):
        check_cron_name(name)
