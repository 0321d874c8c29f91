"""When a job no worker here could import goes back to its queue, and when it fails (refusal.judge)."""

from __future__ import annotations

import json

import pytest

from rqueues.codec import decode_error
from rqueues.worker.execution import Claimed, Outcome
from rqueues.worker.refusal import judge


def refused() -> Outcome:
    job = Claimed("q", "1-0", "job-1", "app.tasks:resize", b"", 1, {}, 60)
    return Outcome(job, "refused", b"", "module 'app.tasks' was not imported", permanent=True)


@pytest.mark.parametrize(
    ("recorded", "consumers", "limit", "give_back", "refusers"),
    [
        ([], {"me", "b"}, 10, True, ("me",)),  # b may have the code
        ([], {"me"}, 10, False, ("me",)),  # nobody else consumes the queue
        ([], set(), 10, False, ("me",)),  # not even me any more
        (["b"], {"me", "b"}, 10, False, ("b", "me")),  # every live consumer refused it
        (["b"], {"me", "b", "c"}, 10, True, ("b", "me")),
        (["gone-1", "gone-2"], {"me", "c"}, 10, True, ("gone-1", "gone-2", "me")),  # refusers that left
        (["me"], {"me", "c"}, 10, True, ("me",)),  # refused twice by the same worker: counted once
        ([f"w{i}" for i in range(9)], {"me", "c"}, 10, False, (*sorted(f"w{i}" for i in range(9)), "me")),
    ],
)
def test_judge(
    recorded: list[str], consumers: set[str], limit: int, give_back: bool, refusers: tuple[str, ...]
) -> None:
    verdict = judge(refused(), recorded, "me", consumers, limit)
    assert verdict.give_back is give_back
    assert verdict.refusers == tuple(sorted(refusers))


def test_a_final_refusal_fails_naming_the_function_and_the_workers() -> None:
    verdict = judge(refused(), ["b"], "me", {"me", "b"})
    failed = verdict.failed()
    assert (failed.state, failed.permanent) == ("failed", True)
    error = decode_error(failed.blob)
    assert error["type"] == "rqueues.errors.UnknownFunction"
    assert error["message"] == (
        "no live worker can run 'app.tasks:resize': refused by b, me; "
        "the last one said: module 'app.tasks' was not imported"
    )


def test_a_give_back_row_carries_the_refusers() -> None:
    entry, job_id, refusers = judge(refused(), ["b"], "me", {"c"}).row()
    assert (entry, job_id, json.loads(refusers)) == ("1-0", "job-1", ["b", "me"])
