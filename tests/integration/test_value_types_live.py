"""Value types beyond msgpack's cross a real Redis and a worker process, both ways."""

from __future__ import annotations

import datetime as dt
import decimal
import os
import uuid
import zoneinfo
from collections.abc import Callable
from typing import Any

from value_tasks import Money, shift

from rqueues import Connection, JobFailed, Queue


def test_values_round_trip_through_a_worker_process(
    conn: Connection, worker_process: Callable[..., Any]
) -> None:
    q = Queue("values", connection=conn)
    q.declare()
    when = dt.datetime(2026, 10, 24, 3, 0, tzinfo=zoneinfo.ZoneInfo("Europe/Paris"))
    ident = uuid.uuid4()
    job = q.enqueue(shift, when, dt.timedelta(days=1), ident, Money(decimal.Decimal("9.99"), "EUR"))
    worker_process("--import", "value_tasks", "--queues", "values")
    result = job.wait(timeout=30)
    assert result["pid"] != os.getpid()  # computed in another process
    assert result["when"] == when + dt.timedelta(days=1)
    assert result["when"].tzinfo == zoneinfo.ZoneInfo("Europe/Paris")
    assert result["when"].utcoffset() == dt.timedelta(hours=1)  # after the change to winter time
    assert result["day"] == dt.date(2026, 10, 25)
    assert result["ident"] == uuid.UUID(int=ident.int + 1)
    assert result["price"] == Money(decimal.Decimal("19.98"), "EUR")
    price = Money(decimal.Decimal("9.99"), "EUR")
    assert job.record().call() == ([when, dt.timedelta(days=1), ident, price], {})


def test_worker_without_the_codec_fails_the_job_clearly(
    conn: Connection, worker_process: Callable[..., Any]
) -> None:
    q = Queue("values", connection=conn)
    q.declare()
    # The worker imports only `tasks`, which never registers Money: decoding the call fails.
    job = q.enqueue("tasks:echo", Money(decimal.Decimal("1"), "EUR"))
    worker_process("--queues", "values")
    try:
        job.wait(timeout=30)
    except JobFailed as exc:
        assert "extension type 17" in str(exc)
    else:
        raise AssertionError("the job should not have run")
    assert job.record().state == "dead"
