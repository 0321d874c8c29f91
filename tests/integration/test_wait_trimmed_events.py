"""Job.wait never misses a completion, even when the events stream was trimmed past it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import tasks

from rqueues import Connection, Queue
from rqueues.codec import encode_result

TIMEOUT = 3.0  # the waiter's; traffic goes on for longer, so a waiter that missed it times out
TICK = 0.02


def blocked_readers(conn: Connection) -> list[dict[str, Any]]:
    return [c for c in conn.redis.client_list() if c["cmd"] == "xread" and "b" in c["flags"]]


def test_a_waiter_returns_when_its_completion_event_was_trimmed_under_traffic(
    conn: Connection, wait_until: Callable[..., Any]
) -> None:
    q = Queue("default", conn)
    q.declare()
    keys = conn.keys.queue("default")
    job = q.enqueue(tasks.add, 1, 2)
    outcome: dict[str, Any] = {}

    def wait() -> None:
        try:
            outcome["result"] = job.wait(timeout=TIMEOUT)
        except Exception as exc:  # recorded for the assertion below
            outcome["error"] = exc

    others = len(blocked_readers(conn))
    waiter = threading.Thread(target=wait, daemon=True)
    waiter.start()
    wait_until(lambda: len(blocked_readers(conn)) > others, what="the waiter to block on the events stream")

    # The job completes and, before the waiter reads, the stream is trimmed past its
    # event (as a busy queue trims it to EVENTS_MAXLEN): all in one transaction.
    pipe = conn.redis.pipeline(transaction=True)
    pipe.hset(keys.job(job.id), mapping={"state": "succeeded", "result": encode_result(3)})
    pipe.xadd(keys.events, {"job": job.id})
    pipe.xtrim(keys.events, maxlen=0, approximate=False)
    pipe.xadd(keys.events, {"job": "someone-else"})
    pipe.execute()
    # Traffic goes on: the waiter wakes again and again, never on its own event.
    deadline = time.monotonic() + TIMEOUT + 2.0
    for _ in range(int((TIMEOUT + 2.0) / TICK)):
        if not waiter.is_alive() or time.monotonic() > deadline:
            break
        conn.redis.xadd(keys.events, {"job": "someone-else"})
        time.sleep(TICK)
    waiter.join(10)
    assert not waiter.is_alive()
    assert outcome == {"result": 3}
