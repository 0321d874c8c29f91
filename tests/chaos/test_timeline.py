"""The run-log reconstruction the chaos tests rely on catches what it is meant to catch."""

from __future__ import annotations

import pytest
import timeline


def log(*lines: str) -> list[bytes]:
    return [line.encode() for line in lines]


def test_parse_pairs_starts_and_ends_per_process_and_attempt() -> None:
    runs = timeline.parse(
        log("start a 1.0 10 1", "start a 5.0 11 2", "end a 6.0 11 2", "start b 2.0 10 1", "end b 3.0 10 1")
    )
    assert runs == [
        timeline.Run("a", 10, 1, 1.0, None),
        timeline.Run("b", 10, 1, 2.0, 3.0),
        timeline.Run("a", 11, 2, 5.0, 6.0),
    ]


@pytest.mark.parametrize(
    "lines",
    [
        ("start a 1.0 10",),
        ("begin a 1.0 10 1",),
        ("end a 2.0 10 1",),
        ("start a 1.0 10 1", "start a 2.0 10 1"),
    ],
)
def test_parse_rejects_a_log_it_cannot_trust(lines: tuple[str, ...]) -> None:
    with pytest.raises(ValueError):
        timeline.parse(log(*lines))


def test_max_overlap_counts_a_tie_as_an_overlap() -> None:
    assert timeline.max_overlap([(0, 1), (1, 2)]) == (2, 1)
    assert timeline.max_overlap([(0, 1), (1.5, 2), (3, 4)]) == (1, 0)
    assert timeline.max_overlap([(0, 10), (1, 2), (1.5, 3), (5, 6)]) == (3, 1.5)
    assert timeline.max_overlap([]) == (0, None)


def test_a_killed_run_stays_open_until_the_time_given_for_it() -> None:
    runs = timeline.parse(log("start a 1.0 10 1", "start b 2.0 11 1", "end b 3.0 11 1", "start c 4.0 12 1"))
    spans = timeline.intervals(runs, lambda r: 5.0)
    assert timeline.max_overlap(spans) == (2, 2.0)
    assert timeline.max_overlap(timeline.intervals(runs, lambda r: 1.5)) == (1, 1.0)


def test_self_overlaps_finds_a_job_running_twice_at_once() -> None:
    runs = timeline.parse(log("start a 1.0 10 1", "start a 2.0 11 2", "end a 3.0 11 2"))
    assert timeline.self_overlaps(runs, lambda r: 2.5) == ["a"]
    assert timeline.self_overlaps(runs, lambda r: 1.5) == []


def test_recovery_times_measure_kill_to_next_start_and_name_lost_jobs() -> None:
    runs = timeline.parse(
        log(
            "start a 1.0 10 1",  # killed at 2.0, runs again at 4.5
            "start a 4.5 11 2",
            "end a 5.0 11 2",
            "start b 1.5 10 1",  # ended before the kill, not acknowledged: ran again at 6.0
            "end b 1.8 10 1",
            "start b 6.0 11 2",
            "end b 6.5 11 2",
            "start c 1.2 10 1",  # ended before the kill and done
            "end c 1.3 10 1",
            "start d 1.9 10 1",  # killed and never ran again: lost
        )
    )
    times, never = timeline.recovery_times(runs, {10: 2.0})
    assert sorted(times) == [2.5, 4.0]
    assert never == ["d"]


def test_summary() -> None:
    assert timeline.summary([3.0, 1.0, 2.0]) == {"count": 3, "median": 2.0, "max": 3.0}
    assert timeline.summary([]) == {"count": 0, "median": None, "max": None}
