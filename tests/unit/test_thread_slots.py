"""The thread executor: a slot that ends a job starts the next job submitted while it
ends (a job claimed ahead, slots.finished) on its own thread, waking no other."""

from __future__ import annotations

import threading
import time

from rqueues.worker.execution import Claimed, Outcome
from rqueues.worker.executors.thread import ThreadExecutor


def claimed(n: int) -> Claimed:
    return Claimed("q", f"{n}-0", f"id-{n}", "m:f", b"", 1, {}, 60)


def test_a_job_submitted_while_a_slot_ends_its_job_runs_on_that_slot() -> None:
    ran: list[tuple[str, str]] = []
    ahead = [claimed(n) for n in range(1, 6)]
    done = threading.Event()

    def run(job: Claimed) -> Outcome:
        ran.append((job.job_id, threading.current_thread().name))
        return Outcome(job, "succeeded")

    def on_done(outcome: Outcome) -> None:  # what Finisher.done does through slots.finished
        if ahead:
            executor.submit(ahead.pop(0))
            time.sleep(0.05)  # time enough for an idle slot to take it, were it on the shared queue
        else:
            done.set()

    executor = ThreadExecutor(3, run, on_done)
    executor.start()
    try:
        executor.submit(claimed(0))
        assert done.wait(10.0)
    finally:
        executor.stop(5.0)
    assert [job for job, _ in ran] == [f"id-{n}" for n in range(6)]
    assert len({thread for _, thread in ran}) == 1  # one slot ran them all, in order


def test_jobs_submitted_from_elsewhere_still_go_to_any_free_slot() -> None:
    gate, started = threading.Event(), threading.Barrier(4, timeout=10.0)  # 3 jobs and the test

    def run(job: Claimed) -> Outcome:
        started.wait()  # all three run at once, one slot each, or the barrier breaks
        gate.wait(10.0)
        return Outcome(job, "succeeded")

    executor = ThreadExecutor(3, run, lambda outcome: None)
    executor.start()
    try:
        for n in range(3):
            executor.submit(claimed(n))
        started.wait()
        gate.set()
    finally:
        executor.stop(5.0)


def test_a_lent_call_runs_on_a_slot_thread_which_then_runs_the_first_job_it_submits() -> None:
    ran: dict[str, str] = {}
    finished = threading.Barrier(3, timeout=10.0)  # both jobs and the test

    def run(job: Claimed) -> Outcome:
        ran[job.job_id] = threading.current_thread().name
        finished.wait()
        return Outcome(job, "succeeded")

    executor = ThreadExecutor(3, run, lambda outcome: None)
    assert not executor.lend(lambda: None)  # no slot thread runs yet
    executor.start()
    try:

        def wake() -> None:
            ran["lent"] = threading.current_thread().name
            executor.submit(claimed(1))
            executor.submit(claimed(2))
            time.sleep(0.05)  # time enough for an idle slot to take the first, were it shared

        assert executor.lend(wake)
        finished.wait()
    finally:
        executor.stop(5.0)
    assert ran["lent"].startswith("rqueues-slot-")
    assert ran["id-1"] == ran["lent"]  # no hand-off to another thread
    assert ran["id-2"] != ran["lent"]  # the others go to the other slots, at once
