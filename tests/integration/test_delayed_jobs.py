"""Delayed jobs: enqueue_in, enqueue_at, `--in`, `--at`, per-call delays in a batch, due times listed."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import tasks
from click.testing import Result

from rqueues import ConfigurationError, Connection, JobOptions, Queue, Worker
from rqueues.observe.listing import list_jobs


def _due_ms(conn: Connection, q: Queue, job_id: str) -> float | None:
    score = conn.redis.zscore(q.keys.scheduled, job_id)
    return None if score is None else float(score)


def test_enqueue_in_waits_scheduled_with_its_due_time(conn: Connection, q: Queue) -> None:
    before = conn.redis.time()[0] * 1000
    job = q.enqueue_in(timedelta(minutes=5), tasks.add, 1, 2)
    after = conn.redis.time()[0] * 1000 + 1000
    assert job.state == "scheduled"
    due = _due_ms(conn, q, job.id)
    assert due is not None and before + 300_000 <= due <= after + 300_000
    record = job.record()
    assert record.due_at == due / 1000
    listed = list_jobs(conn, ["default"], "scheduled")
    assert [r.id for r in listed] == [job.id]
    assert listed[0].due_at == due / 1000
    assert listed[0].to_json()["due_at"] is not None
    assert q.enqueue_in(90, tasks.noop).state == "scheduled"


def test_enqueue_in_zero_and_enqueue_at_a_past_time_run_at_once(conn: Connection, q: Queue) -> None:
    now_job = q.enqueue_in(0, tasks.noop)
    past_job = q.enqueue_at(datetime.now(timezone.utc) - timedelta(hours=1), tasks.noop)
    assert now_job.state == "queued" and past_job.state == "queued"
    assert conn.redis.zcard(q.keys.scheduled) == 0


def test_enqueue_at_counts_from_the_instant_whatever_its_zone(conn: Connection, q: Queue) -> None:
    paris = timezone(timedelta(hours=2))
    at = (datetime.now(timezone.utc) + timedelta(hours=1)).astimezone(paris)
    job = q.enqueue_at(at, tasks.noop)
    due = _due_ms(conn, q, job.id)
    assert due is not None
    assert abs(due / 1000 - at.timestamp()) < 5  # the two clocks of one machine


def test_a_naive_datetime_is_refused_naming_the_problem(conn: Connection, q: Queue) -> None:
    with pytest.raises(ConfigurationError, match="naive datetime"):
        q.enqueue_at(datetime.now() + timedelta(minutes=1), tasks.noop)
    with pytest.raises(ConfigurationError, match="naive datetime"):
        JobOptions(at=datetime(2030, 1, 1))
    with pytest.raises(ConfigurationError, match="not both"):
        JobOptions(at=datetime.now(timezone.utc), delay=5)
    with pytest.raises(ConfigurationError, match="delay must be >= 0"):
        q.enqueue_in(-1, tasks.noop)
    assert conn.redis.xlen(q.keys.stream) == 0 and conn.redis.zcard(q.keys.scheduled) == 0


def test_enqueue_many_takes_a_delay_or_an_instant_per_call(conn: Connection, q: Queue) -> None:
    at = datetime.now(timezone.utc) + timedelta(hours=2)
    jobs = q.enqueue_many([
        (tasks.noop, (), {}),
        (tasks.noop, (), {}, JobOptions(delay=60)),
        (tasks.noop, (), {}, JobOptions(at=at)),
    ])  # fmt: skip
    assert [j.state for j in jobs] == ["queued", "scheduled", "scheduled"]
    order = [j.id for j in list_jobs(conn, ["default"], "scheduled")]
    assert order == [jobs[1].id, jobs[2].id]  # soonest due first


def test_a_delayed_job_runs_once_when_due_not_before(
    conn: Connection, q: Queue, quick_worker: Callable[..., Worker]
) -> None:
    job = q.enqueue_in(0.3, tasks.add, 2, 3)
    due = _due_ms(conn, q, job.id)
    quick_worker()
    assert job.wait(timeout=15) == 5
    record = job.record()
    assert due is not None and record.started_at is not None
    assert record.started_at * 1000 >= due  # both by Redis' clock
    assert record.attempts == 1


def enqueue(cli: Callable[..., Result], *args: str) -> Result:
    return cli("enqueue", *args)


def test_cli_in_and_at(conn: Connection, q: Queue, cli: Callable[..., Result]) -> None:
    later = enqueue(cli, "--in", "2h", "default", "tasks:noop")
    assert later.exit_code == 0, later.output
    instant = (datetime.now(timezone.utc) + timedelta(days=30)).replace(microsecond=0)
    paris = instant.astimezone(timezone(timedelta(hours=1))).isoformat()
    at = enqueue(cli, "--at", paris, "default", "tasks:noop")
    assert at.exit_code == 0, at.output
    zulu = enqueue(cli, "--at", instant.replace(tzinfo=None).isoformat() + "Z", "default", "tasks:noop")
    assert zulu.exit_code == 0, zulu.output
    due_at = _due_ms(conn, q, at.output.strip())
    due_zulu = _due_ms(conn, q, zulu.output.strip())
    assert due_at is not None and due_zulu is not None
    assert abs(due_at - due_zulu) < 5000  # the same instant, each counted from its own enqueue
    assert abs(due_at - instant.timestamp() * 1000) < 5000
    listed = cli("jobs", "--state", "scheduled", "--json")
    rows: list[dict[str, Any]] = json.loads(listed.output)
    assert {r["id"] for r in rows} == {later.output.strip(), at.output.strip(), zulu.output.strip()}
    assert all(r["state"] == "scheduled" and r["due_at"] for r in rows)
    table = cli("jobs", "--state", "scheduled")
    assert "DUE_AT" in table.output


@pytest.mark.parametrize(
    ("value", "message"),
    [("2030-01-01T09:00:00", "no UTC offset"), ("tomorrow", "not an ISO 8601 time")],
)
def test_cli_at_refuses_what_names_no_instant(
    q: Queue, cli: Callable[..., Result], value: str, message: str
) -> None:
    result = enqueue(cli, "--at", value, "default", "tasks:noop")
    assert result.exit_code != 0
    assert message in result.output


def test_cli_in_and_at_together_are_refused(q: Queue, cli: Callable[..., Result]) -> None:
    result = enqueue(cli, "--in", "5m", "--at", "2030-01-01T00:00Z", "default", "tasks:noop")
    assert result.exit_code != 0 and "not both" in result.output
