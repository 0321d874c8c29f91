"""Queue.set_concurrency and Queue.set_rate_limit: one setting changes alone, as a declaration
that keeps every other setting."""

from __future__ import annotations

import pytest

from rqueues import Connection, Queue, RetryPolicy
from rqueues.errors import ConfigurationError, QueueNotDeclared
from rqueues.ratelimit import RateLimit


def test_only_the_limit_changes(conn: Connection) -> None:
    q = Queue("q", conn)
    before = q.declare(
        concurrency=2, tags=["has=gpu"], result_ttl=600, retry=RetryPolicy(3, 2.0, 60.0, ("OSError",)),
        max_reclaims=1,
    )  # fmt: skip
    conn.redis.hset(q.keys.config, "some_later_setting", "kept")  # a field this version does not know
    events = conn.redis.xlen(q.keys.events)
    after = q.set_concurrency(5)
    assert after.concurrency == 5 and after.version == before.version + 1
    stored = q.config()
    assert stored.concurrency == 5 and stored.version == after.version
    assert (stored.tags, stored.result_ttl, stored.retry, stored.max_reclaims) == (
        before.tags, before.result_ttl, before.retry, before.max_reclaims,
    )  # fmt: skip
    assert conn.redis.hget(q.keys.config, "some_later_setting") == b"kept"
    assert conn.redis.xlen(q.keys.events) == events + 1  # workers are woken, as by declare
    assert q.set_concurrency(0).concurrency == 0  # unlimited


def test_an_undeclared_queue_or_a_bad_limit_is_refused_and_nothing_is_written(conn: Connection) -> None:
    with pytest.raises(QueueNotDeclared):
        Queue("nope", conn).set_concurrency(1)
    assert not conn.redis.exists(conn.keys.queue("nope").config)
    q = Queue("q", conn)
    q.declare(concurrency=2)
    for bad in (-1, 10**7, True, 1.5, "3"):
        with pytest.raises(ConfigurationError, match="concurrency"):
            q.set_concurrency(bad)  # type: ignore[arg-type]
    assert q.config().concurrency == 2


def test_the_rate_limit_changes_alone_and_a_pause_is_kept(conn: Connection) -> None:
    q = Queue("q", conn)
    before = q.declare(concurrency=2, tags=["has=gpu"], rate_limit="10/s")
    q.pause()
    after = q.set_rate_limit("30/m")
    assert after.rate_limit == RateLimit(30, 60.0) and after.version == before.version + 1
    stored = q.config()
    assert (stored.rate_limit, stored.concurrency, stored.tags, stored.paused) == (
        RateLimit(30, 60.0), 2, ("has=gpu",), True,
    )  # fmt: skip
    assert q.set_rate_limit(RateLimit(5)).rate_limit == RateLimit(5, 1.0)
    assert q.set_rate_limit(None).rate_limit is None
    assert q.config().rate_limit is None
    with pytest.raises(ConfigurationError, match="invalid rate limit"):
        q.set_rate_limit("fast")
    with pytest.raises(QueueNotDeclared):
        Queue("nope", conn).set_rate_limit("1/s")
    assert q.config().concurrency == 2
