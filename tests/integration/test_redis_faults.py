"""Redis going away: workers reconnect and lose nothing; clients get a clear error; settings are checked.

These tests start their own server (AOF on, like production should be): the
session server is shared and must not be stopped or reconfigured.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import tasks

from rqueues import Connection, Queue, RedisUnavailable, Worker, connect
from rqueues.backend.keys import GROUP
from rqueues.backend.settings import setting_warnings
from rqueues.quickstart.embedded import EmbeddedServer
from rqueues.worker.execution import Outcome
from rqueues.worker.observer import Observer


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[EmbeddedServer]:
    try:
        server = EmbeddedServer(appendonly=True, directory=str(tmp_path)).start()
    except Exception as exc:  # the session fixture decides whether a missing server is an error
        pytest.skip(f"no Redis server available: {exc}")
    yield server
    server.cleanup()


class Faults(Observer):
    """Where Redis calls failed, and which jobs finished running (before their outcome is stored)."""

    def __init__(self) -> None:
        self.where: set[str] = set()
        self.finished_ids: set[str] = set()
        self.cond = threading.Condition()

    def redis_error(self, where: str) -> None:
        with self.cond:
            self.where.add(where)
            self.cond.notify_all()

    def finished(self, outcome: Outcome, seconds: float) -> None:
        with self.cond:
            self.finished_ids.add(outcome.claimed.job_id)
            self.cond.notify_all()

    def wait(self, predicate: Callable[[], bool], what: str) -> None:
        with self.cond:
            assert self.cond.wait_for(predicate, timeout=15), f"timed out waiting for {what}"


def test_a_worker_survives_a_redis_restart_and_loses_nothing(
    own_server: EmbeddedServer, wait_until: Any, caplog: pytest.LogCaptureFixture
) -> None:
    conn = connect(own_server.url)
    q = Queue("default", conn)
    q.declare(concurrency=2)
    keys = conn.keys.queue("default")
    faults = Faults()
    worker = Worker(conn, imports=["tasks"], refresh_seconds=0.1, observer=faults, worker_id="w-survivor")
    thread = threading.Thread(target=worker.run, kwargs={"install_signals": False}, daemon=True)
    thread.start()
    try:
        assert q.enqueue(tasks.add, 1, 2).wait(timeout=15) == 3
        release = tasks.EVENTS.setdefault("faults:in-flight", threading.Event())
        in_flight = q.enqueue(tasks.wait_for_event, "faults:in-flight")
        wait_until(lambda: in_flight.state == "running", what="the job to start")

        own_server.stop()  # SIGTERM: Redis writes its AOF and exits
        release.set()  # the job ends while Redis is down: its outcome must wait in the worker
        faults.wait(lambda: in_flight.id in faults.finished_ids, "the job to finish")
        faults.wait(
            lambda: {"ack", "heartbeat", "dispatch"} <= faults.where, "every thread to see the outage"
        )
        with pytest.raises(RedisUnavailable) as info:
            q.enqueue(tasks.noop)
        assert f"cannot reach Redis at {own_server.url}" in str(info.value)

        own_server.start()  # same port, same AOF
        assert in_flight.wait(timeout=30) == "faults:in-flight"
        rec = in_flight.record()
        assert (rec.state, rec.attempts, rec.reclaims, rec.worker) == ("succeeded", 1, 0, "w-survivor")
        jobs = q.enqueue_many([(tasks.add, (i, i), {}) for i in range(5)])
        assert [j.wait(timeout=30) for j in jobs] == [0, 2, 4, 6, 8]
        assert thread.is_alive()
        assert conn.redis.zcard(keys.leases) == 0
        assert conn.redis.xpending(keys.stream, GROUP)["pending"] == 0
    finally:
        tasks.EVENTS.pop("faults:in-flight", threading.Event()).set()
        worker.stop()
        thread.join(30)
        conn.close()
    assert not thread.is_alive()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    # Each failing thread said so, naming the server it could not reach.
    assert any(f"127.0.0.1:{own_server.port}" in m and "retrying" in m for m in warnings), warnings
    assert not any(m.startswith("Redis has ") for m in warnings)  # this server's settings are right


def test_setting_warnings_flag_what_breaks_the_promises(own_server: EmbeddedServer, conn: Connection) -> None:
    r = redis.Redis.from_url(own_server.url)
    try:
        assert setting_warnings(r) == []  # appendonly yes, appendfsync everysec, noeviction

        r.config_set("maxmemory-policy", "allkeys-lru")
        assert setting_warnings(r) == [
            "Redis has maxmemory-policy allkeys-lru (want noeviction): "
            "Redis may evict job records, streams or leases under memory pressure"
        ]
        r.config_set("maxmemory-policy", "noeviction")
        r.config_set("appendfsync", "no")
        [fsync] = setting_warnings(r)
        assert fsync.startswith("Redis has appendfsync no (want everysec)")
        r.config_set("appendfsync", "always")  # stricter than needed: fine
        assert setting_warnings(r) == []
    finally:
        r.close()
    # The session server runs without AOF (turning AOF on and off here would make Redis rewrite it).
    assert setting_warnings(conn.redis) == [
        "Redis has appendonly no (want yes): jobs acknowledged as enqueued are lost when Redis restarts"
    ]


def test_setting_warnings_are_silent_when_config_is_refused() -> None:
    class ManagedRedis:
        """A managed service that disables CONFIG."""

        def config_get(self, pattern: str) -> Any:
            raise redis.ResponseError("unknown command 'CONFIG'")

    assert setting_warnings(ManagedRedis()) == []


def test_a_worker_warns_at_start_about_settings_that_break_the_promises(
    conn: Connection, quick_worker: Callable[..., Worker], wait_until: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="rqueues.worker")
    worker = quick_worker()  # the session server runs with appendonly no
    wait_until(lambda: conn.redis.zscore(conn.keys.workers, worker.worker_id), what="the worker to register")
    warnings = [r.getMessage() for r in caplog.records if r.name == "rqueues.worker"]
    assert any(m.startswith("Redis has appendonly no (want yes)") for m in warnings), warnings
