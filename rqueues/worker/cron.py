"""The ticker every worker runs: enqueue periodic jobs when their ticks are due.

It sleeps until the next tick of any schedule, or at most RELOAD seconds so a
schedule added meanwhile is seen in time; each pass is rqueues.cron.tick_due(),
which enqueues each tick once however many workers' tickers run it.
"""

from __future__ import annotations

import logging
import threading

import redis

from ..backend.store import Store
from ..cron import tick_due
from ..errors import RedisOutOfMemory, RedisUnavailable

log = logging.getLogger("rqueues.worker")

#: Longest sleep between two passes: how soon a new schedule is read.
RELOAD = 1.0


def run_ticker(conn: Store, stop: threading.Event, reload: float = RELOAD) -> None:
    """Pass after pass until ``stop`` is set; Redis errors are logged once per outage."""
    failing = False
    while not stop.is_set():
        wait = reload
        try:
            ticked = tick_due(conn)
            if failing:
                log.info("cron ticker: Redis answers again")
                failing = False
            if ticked.enqueued:
                log.debug("cron ticker: %d periodic job(s) enqueued", ticked.enqueued)
            if ticked.next_due is not None:
                wait = min(reload, max(0.0, ticked.next_due - ticked.now) + 0.001)
        except (redis.RedisError, RedisUnavailable, RedisOutOfMemory) as exc:
            if not failing:
                log.warning("cron ticker: %s; retrying every %.0fs", exc, reload)
                failing = True
        except Exception:  # a schedule no check foresaw must not end the ticker
            log.exception("cron ticker pass failed")
        stop.wait(wait)
