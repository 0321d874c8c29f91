"""Slots and the jobs claimed ahead of them: placed oldest first, a slot that ends a job starts
the next one waiting, none starts once the worker stops, and claiming ahead needs short jobs."""

from __future__ import annotations

from rqueues.worker.execution import Claimed
from rqueues.worker.slots import SHORT_JOB_SECONDS, Slots


def job(n: int) -> Claimed:
    return Claimed("q", f"{n}-0", f"q:{n}-0", "tasks:noop", b"", 1, {}, 60)


def test_claimed_jobs_fill_the_free_slots_and_the_rest_wait_ahead() -> None:
    slots = Slots(2)
    submitted: list[Claimed] = []
    slots.submit = submitted.append
    jobs = [job(i) for i in range(5)]
    assert slots.place(jobs) == jobs[:2]
    assert (slots.busy, slots.waiting) == (2, 3)
    slots.finished(0.001)  # a slot ends a job: it starts the oldest one waiting
    assert submitted == [jobs[2]] and (slots.busy, slots.waiting) == (2, 2)
    slots.release()
    assert slots.place([job(9)]) == [jobs[3]]  # a free slot takes the oldest waiting first


def test_a_stopping_worker_starts_no_job_waiting_ahead() -> None:
    slots = Slots(1)
    submitted: list[Claimed] = []
    slots.submit = submitted.append
    slots.place([job(1), job(2)])
    slots.wake()
    slots.finished(0.001)
    assert submitted == [] and (slots.busy, slots.waiting) == (0, 1)


def test_room_to_claim_ahead_only_below_half_the_limit() -> None:
    slots = Slots(1)
    slots.submit = lambda j: None
    slots.place([job(i) for i in range(4)])  # 1 runs, 3 wait
    assert not slots.wait_free(0)  # no free slot, not claiming ahead
    slots.ahead_limit = 4
    assert not slots.wait_free(0)  # 3 waiting: more than half of 4
    slots.finished(0.001)
    assert slots.wait_free(0)  # 2 waiting


def test_jobs_are_short_only_once_their_average_is() -> None:
    slots = Slots(1)
    slots.submit = lambda j: None
    assert not slots.short  # nothing ran yet
    slots.take(1)
    slots.finished(SHORT_JOB_SECONDS * 10)
    assert not slots.short
    for _ in range(40):
        slots.take(1)
        slots.finished(0.0)
    assert slots.short
