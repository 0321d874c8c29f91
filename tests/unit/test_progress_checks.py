"""What current_job().progress() accepts, and where a report goes."""

from __future__ import annotations

import math

import pytest

from rqueues.cli.output import progress_line
from rqueues.context import JobContext, check_progress
from rqueues.defaults import MAX_PROGRESS_MESSAGE
from rqueues.job import Progress
from rqueues.observe.listing import progress_text


@pytest.mark.parametrize("fraction", [0, 0.0, 0.5, 1, 1.0])
def test_fractions_from_zero_to_one_are_accepted_as_floats(fraction: float) -> None:
    assert check_progress(fraction, "m") == (float(fraction), "m")


@pytest.mark.parametrize("fraction", [-0.01, 1.0001, 50, math.inf, math.nan])
def test_a_fraction_outside_zero_to_one_is_a_value_error_naming_the_range(fraction: float) -> None:
    with pytest.raises(ValueError, match="from 0 to 1"):
        check_progress(fraction)


@pytest.mark.parametrize("fraction", ["0.5", None, True, [0.5]])
def test_a_fraction_that_is_no_number_is_a_type_error(fraction: object) -> None:
    with pytest.raises(TypeError, match="fraction must be a number"):
        check_progress(fraction)


def test_a_message_that_is_no_string_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="message must be a string"):
        check_progress(0.5, 42)


def test_a_long_message_is_cut_to_the_limit_not_refused() -> None:
    _, message = check_progress(0.5, "x" * 10_000)
    assert len(message) == MAX_PROGRESS_MESSAGE and message.endswith("\u2026")


def test_progress_goes_to_the_reporter_checked() -> None:
    seen: list[tuple[str, object]] = []
    ctx = JobContext("j", "q", "m:f", 1, _report=lambda kind, data: seen.append((kind, data)))
    ctx.progress(1, "done")
    with pytest.raises(ValueError):
        ctx.progress(2)
    assert seen == [("progress", [1.0, "done"])]  # the executors' message channel
    JobContext("j", "q", "m:f", 1).progress(0.5)  # no reporter (outside a worker): a no-op


def test_progress_from_a_record_and_as_text() -> None:
    raw = {
        b"progress": b"0.425",
        b"progress_msg": b"shards",
        b"progress_at": b"1700000000000",
        b"progress_attempt": b"1",
    }
    progress = Progress.from_hash(raw)
    assert progress == Progress(0.425, "shards", 1_700_000_000.0, 1)
    assert progress_text(progress, 1) == "42% shards"
    assert progress_text(progress, 2) == "42% shards (attempt 1)"
    assert progress_line(progress.to_json(), 1).startswith("42% shards (at 2023-11-14T22:13:20")
    assert Progress.from_hash({b"progress": b"bad"}) is None and Progress.from_hash({}) is None
