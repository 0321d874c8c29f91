"""`rqueues top` and `rqueues info`: the stats they read, the rates they compute, what they print."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import pytest
from click.testing import CliRunner

from rqueues import Connection, Queue, Worker
from rqueues.cli import main
from rqueues.observe.metrics import WorkerMetrics
from rqueues.observe.snapshot import QueueView, Snapshot, read_snapshot
from rqueues.observe.stats import BUCKETS, LE, QueueStats, bucket_index, quantile
from rqueues.observe.top import RateWindow, duration, render, run_top, state


def test_buckets_hold_values_up_to_their_bound() -> None:
    assert bucket_index(0.0) == 0
    assert bucket_index(0.001) == 0
    assert bucket_index(0.0011) == 1
    assert bucket_index(BUCKETS[-1]) == len(BUCKETS) - 1
    assert bucket_index(1e9) == len(BUCKETS)  # +Inf
    assert LE[BUCKETS.index(1.0)] == "1.0"


@pytest.mark.parametrize(
    ("counts", "q", "want"),
    [
        ({1.0: 10}, 0.5, 0.75),  # all in (0.5, 1]: interpolated halfway
        ({0.001: 95, 10.0: 5}, 0.95, 0.001),
        ({0.001: 90, 10.0: 10}, 0.95, 7.5),  # half of the (5, 10] bucket
        ({"+Inf": 3}, 0.5, BUCKETS[-1]),
        ({}, 0.95, None),
    ],
)
def test_quantile_interpolates_like_histogram_quantile(counts: dict[Any, int], q: float, want: Any) -> None:
    buckets = [0] * len(LE)
    for bound, n in counts.items():
        buckets[len(BUCKETS) if bound == "+Inf" else BUCKETS.index(bound)] = n
    assert quantile(q, buckets) == (pytest.approx(want) if want is not None else None)


def test_rates_come_from_the_difference_of_snapshots() -> None:
    def snap(t: float, ok: int, failed: int, waits: int) -> Snapshot:
        buckets = [0] * len(LE)
        buckets[BUCKETS.index(0.1)] = waits
        stats = QueueStats(ok + failed, {"succeeded": ok, "failed": failed, "retry": 7}, tuple(buckets), 0.0)
        return Snapshot(t, [view("a", stats=stats)], [], 0, None)

    window = RateWindow(window=10)
    window.add(snap(100.0, 10, 1, 11))
    assert window.rates() == {}
    window.add(snap(102.0, 30, 5, 35))
    rates = window.rates()["a"]
    assert rates.succeeded == pytest.approx(10.0)
    assert rates.failed == pytest.approx(2.0)  # retried attempts are not failures
    assert rates.p95_wait is not None and 0.05 < rates.p95_wait <= 0.1
    window.add(snap(120.0, 30, 5, 35))  # nothing new for 18 s: the window moves on
    assert window.rates()["a"].succeeded == 0


@pytest.mark.parametrize(
    ("fields", "want"),
    [
        (dict(waiting=0, pending=0), "idle"),
        (dict(waiting=0, pending=2), "busy"),
        (dict(waiting=5, consumers=0), "no-consumer"),
        (dict(waiting=5, consumers=2, concurrency=2, in_use=2), "limit-bound"),
        (dict(waiting=5, consumers=2, concurrency=4, in_use=2), "worker-bound"),
        (dict(waiting=5, consumers=2, concurrency=0, in_use=8), "worker-bound"),
    ],
)
def test_state_tells_what_holds_a_backlog(fields: dict[str, int], want: str) -> None:
    assert state(view("q", **fields)) == want


def test_duration() -> None:
    assert [duration(x) for x in (None, 0.25, 4.21, 190, 7500)] == ["-", "250ms", "4.2s", "3m10s", "2h05m"]


def test_top_shows_a_live_cluster(
    conn: Connection, start_worker: Callable[..., Worker], wait_until: Callable[..., Any]
) -> None:
    Queue("heavy", conn).declare(concurrency=1)
    Queue("idle", conn).declare(tags=["has=gpu"])
    Queue("idle", conn).enqueue_many([("tasks:noop", (), {}) for _ in range(3)])
    heavy = Queue("heavy", conn).enqueue_many([("tasks:wait_for_cancel", (30,), {}) for _ in range(4)])
    metrics = WorkerMetrics()
    worker = start_worker(concurrency=2, observer=metrics, shutdown_timeout=0.2, heartbeat_seconds=0.2)
    metrics.bind(worker)
    wait_until(lambda: any(w.jobs for w in read_snapshot(conn).workers), what="a running job")
    out = io.StringIO()
    run_top(conn, interval=0.1, count=2, out=out)
    text = out.getvalue()
    assert text.count("rqueues top") == 2
    lines = {line.split()[0]: line.split() for line in text.splitlines() if line.strip()}
    assert lines["heavy"][1:4] == ["1", "1", "3"]  # limit, in use, waiting
    assert lines["heavy"][-1] == "limit-bound"
    assert lines["idle"][-1] == "no-consumer"
    assert lines[worker.worker_id][-1] == "tasks.wait_for_cancel"
    assert heavy  # the jobs are handed back when the worker stops


def test_info_prints_what_top_shows(
    conn: Connection, start_worker: Callable[..., Worker], redis_url: str
) -> None:
    q = Queue("mail", conn)
    q.declare()
    jobs = q.enqueue_many([("tasks:add", (i, 1), {}) for i in range(5)])
    metrics = WorkerMetrics()
    worker = start_worker(concurrency=2, observer=metrics)
    metrics.bind(worker)
    for job in jobs:
        job.wait(timeout=30)
    metrics.flush()
    runner = CliRunner()
    result = runner.invoke(main, ["info", "--json", "--sample", "0", "--redis-url", redis_url])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    mail = next(q for q in data["queues"] if q["name"] == "mail")
    assert mail["finished"] == {"succeeded": 5} and mail["started"] == 5
    assert mail["waiting"] == 0 and mail["state"] == "idle"
    assert mail["succeeded_per_second"] is None  # no sample window: no rate
    assert [w["id"] for w in data["workers"]] == [worker.worker_id]
    text = runner.invoke(main, ["info", "--sample", "0.2", "--redis-url", redis_url])
    assert text.exit_code == 0 and "mail" in text.output and "P95_WAIT" in text.output
    once = runner.invoke(main, ["top", "-n", "1", "--redis-url", redis_url])
    assert once.exit_code == 0 and once.output.startswith("rqueues top")


def test_render_lists_queues_and_workers() -> None:
    snap = Snapshot(0.0, [view("a", waiting=3, consumers=1, concurrency=2, in_use=2)], [], 0, None)
    text = render(snap, {}, {})
    assert "reaper never ran" in text
    assert [line.split()[-1] for line in text.splitlines() if line.startswith("a ")] == ["limit-bound"]


def view(name: str, stats: QueueStats | None = None, **fields: Any) -> QueueView:
    base: dict[str, Any] = dict(
        concurrency=0, tags=(), waiting=0, lag_known=True, pending=0, running=0, stalled=0, in_use=0,
        expired_leases=0, scheduled=0, scheduled_due=0, dead=0, oldest_waiting_seconds=None, consumers=1,
        rate_limit=None,
    )  # fmt: skip
    base.update(fields)
    return QueueView(name=name, stats=stats or QueueStats(), **base)
