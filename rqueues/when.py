"""When a delayed job is due: delays and instants, checked, as enqueue takes them.

A job's due time is kept as a delay from the moment it is enqueued, counted by
Redis' clock (enqueue.lua adds it to ``TIME``). An instant (``enqueue_at``) is
turned into that delay by the caller's clock, so the two clocks must agree to
within the precision the caller needs.
"""

from __future__ import annotations

import math
import time
from datetime import datetime, timedelta

from . import defaults
from .errors import ConfigurationError


def check_aware(name: str, at: object) -> datetime:
    """``at`` if it is a datetime that knows its timezone; a naive one is refused."""
    if not isinstance(at, datetime):
        raise ConfigurationError(f"{name} must be a datetime, got {at!r}")
    if at.tzinfo is None or at.utcoffset() is None:
        raise ConfigurationError(
            f"{name} {at.isoformat()} is a naive datetime (no timezone): its instant is ambiguous; "
            "pass an aware one, e.g. datetime.now(timezone.utc) + timedelta(minutes=5) or "
            "datetime(2030, 1, 1, 9, tzinfo=ZoneInfo('Europe/Paris'))"
        )
    return at


def delay_seconds(delay: float | timedelta) -> float:
    """A delay as seconds: a number or a timedelta, >= 0 (0: run now)."""
    seconds = delay.total_seconds() if isinstance(delay, timedelta) else delay
    if (
        not isinstance(seconds, (int, float))
        or isinstance(seconds, bool)
        or not math.isfinite(seconds)
        or not 0 <= seconds <= defaults.MAX_DELAY
    ):
        raise ConfigurationError(
            f"delay must be >= 0 seconds (a number or a timedelta) and at most {defaults.MAX_DELAY:.0f} "
            f"({defaults.MAX_DELAY / 86_400:g} days), got {delay!r}"
        )
    return float(seconds)


def seconds_until(at: datetime, now: float | None = None) -> float:
    """Seconds from ``now`` (default: this machine's clock) until the aware ``at``; 0 when
    it has passed (the job runs at once)."""
    check_aware("at", at)
    left = at.timestamp() - (time.time() if now is None else now)
    if left > defaults.MAX_DELAY:
        raise ConfigurationError(
            f"at {at.isoformat()} is more than {defaults.MAX_DELAY / 86_400:g} days away (the longest delay)"
        )
    return max(0.0, left)


def parse_instant(text: str) -> datetime:
    """An ISO 8601 instant with its offset (``2030-01-01T09:00:00+01:00``, ``...Z``)."""
    raw = text.strip()
    if raw.endswith(("Z", "z")):  # fromisoformat takes 'Z' only from Python 3.11
        raw = raw[:-1] + "+00:00"
    try:
        at = datetime.fromisoformat(raw)
    except ValueError:
        raise ConfigurationError(
            f"{text!r} is not an ISO 8601 time; write e.g. 2030-01-01T09:00:00+01:00 or 2030-01-01T08:00Z"
        ) from None
    if at.tzinfo is None:
        raise ConfigurationError(
            f"{text!r} has no UTC offset, so its instant is ambiguous; add one, e.g. {raw}+00:00 or {raw}Z"
        )
    return at
