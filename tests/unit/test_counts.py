"""parse_counts: what "waiting" means, including when Redis reports a lag the stream cannot hold."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from rqueues.backend.counts import PER_QUEUE, parse_counts

CONFIG = {b"concurrency": b"0"}


def replies(lag: Any, length: Any, pending: int, group: bool = True) -> list[Any]:
    """The PER_QUEUE replies of queue_commands() for one queue."""
    groups: Any = (
        [{"name": b"rqueues", "lag": lag, "last-delivered-id": b"1-0", "pending": pending}]
        if group
        else redis.ResponseError("ERR no such key")
    )
    consumers = [{"name": b"w1", "pending": pending}] if pending else []
    out = [CONFIG, groups, length, {"pending": pending, "consumers": consumers}, 0, 0, 0, 0, 0, {}]
    assert len(out) == PER_QUEUE
    return out


@pytest.mark.parametrize(
    ("lag", "length", "pending", "waiting", "lag_known"),
    [
        pytest.param(0, 0, 0, 0, True, id="idle"),
        pytest.param(3, 5, 2, 3, True, id="exact-lag"),
        pytest.param(3, 3, 0, 3, True, id="lag-equals-the-bound"),
        pytest.param(None, 5, 2, 3, False, id="lag-unknown-stream-minus-pending"),
        # Redis 7.0 after a restart from its AOF: a lag for entries long gone.
        pytest.param(2, 0, 0, 0, False, id="phantom-backlog-on-an-empty-stream"),
        pytest.param(7, 5, 0, 5, False, id="lag-above-what-the-stream-holds"),
        pytest.param(4, 5, 3, 2, False, id="lag-above-stream-minus-pending"),
        # Entries deleted while pending: the bound cannot go below zero.
        pytest.param(0, 1, 3, 0, True, id="more-pending-than-entries"),
        pytest.param(None, redis.ResponseError("x"), 0, 0, False, id="an-error-reads-as-nothing"),
    ],
)
def test_waiting_is_the_lag_when_the_stream_can_hold_it_else_stream_minus_pending(
    lag: Any, length: Any, pending: int, waiting: int, lag_known: bool
) -> None:
    counts = parse_counts(replies(lag, length, pending))
    assert (counts.waiting, counts.lag_known, counts.pending) == (waiting, lag_known, pending)


def test_a_queue_without_a_stream_counts_nothing_waiting() -> None:
    counts = parse_counts(replies(None, 0, 0, group=False))
    assert (counts.waiting, counts.lag_known, counts.last_delivered) == (0, False, None)
