"""Cron schedules: a thin wrapper over cronsim, and which ticks are due.

cronsim parses the expression (5 fields, or 6 with seconds first) and walks its
ticks in a zoneinfo timezone, with Debian cron's rules for daylight-saving time:
a job at a specific time (or coarser than hourly) that falls into the hour skipped
in spring runs right after the jump, and one in the hour repeated in autumn runs
once, on its first pass; schedules finer than hourly (``*/5 * * * *``) follow the
clock as it is, and 6-field ones (with seconds) are never adjusted.

A tick is named by its instant in ms since the epoch. Which ticks a pass enqueues
(due_ticks): those after the last one enqueued and at most ``now``; of them the
newest ``catch_up`` (default 1: after an outage one run stands for all the missed
ticks), and with ``catch_up`` 0 only a tick noticed within GRACE seconds of its time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from .errors import ConfigurationError

#: With catch_up 0, a tick noticed later than this (seconds) is a missed one: skipped.
GRACE = 30.0
MAX_CATCH_UP = 1000
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def check_cron_name(name: object) -> str:
    """A schedule's name: 1-64 of A-Z a-z 0-9 _ . - (it goes into each tick's job id)."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigurationError(
            f"invalid schedule name {name!r}: use 1-64 characters from A-Z a-z 0-9 _ . -"
        )
    return name


def zone(tz: str) -> ZoneInfo:
    """The IANA timezone ``tz`` (``UTC``, ``Europe/Paris``), or a clear error."""
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ConfigurationError(
            f"unknown timezone {tz!r}: use an IANA name such as UTC, Europe/Paris or America/New_York"
        ) from None


@dataclass(frozen=True)
class Schedule:
    """A cron expression in a timezone."""

    expr: str
    tz: str = "UTC"

    def __post_init__(self) -> None:
        if not isinstance(self.expr, str) or len(self.expr.split()) not in (5, 6):
            raise ConfigurationError(
                f"invalid cron expression {self.expr!r}: expected 5 fields (minute hour day month weekday) "
                "or 6 with seconds first, e.g. '*/5 * * * *'"
            )
        object.__setattr__(self, "expr", " ".join(self.expr.split()))
        try:
            CronSim(self.expr, datetime.now(zone(self.tz)))
        except CronSimError as exc:
            raise ConfigurationError(f"invalid cron expression {self.expr!r}: {exc}") from None
        if self.next_after(datetime.now(timezone.utc).timestamp()) is None:
            raise ConfigurationError(f"cron expression {self.expr!r} never fires")

    def _local(self, at: float) -> datetime:
        return datetime.fromtimestamp(at, zone(self.tz))

    def next_after(self, at: float) -> float | None:
        """The first tick after ``at`` (epoch seconds), or None when there is none."""
        try:
            return next(CronSim(self.expr, self._local(at))).timestamp()
        except StopIteration:
            return None

    def newest(self, now: float, after: float, count: int) -> list[float]:
        """Up to ``count`` of the newest ticks in (after, now], oldest first."""
        out: list[float] = []
        if count <= 0:
            return out
        # cronsim walks back from the second before `now` when `now` has a fraction; a tick
        # exactly at `now` must count too, so start from just past it.
        walk = CronSim(self.expr, self._local(int(now) + 1), reverse=True)
        for tick in walk:
            t = tick.timestamp()
            if t > now:
                continue
            if t <= after or len(out) >= count:
                break
            out.append(t)
        return sorted(out)


def due_ticks(schedule: Schedule, last_ms: int, now: float, catch_up: int) -> list[int]:
    """The ticks (ms) a pass at ``now`` enqueues, given the last one enqueued (see the module)."""
    ticks = schedule.newest(now, last_ms / 1000, max(1, catch_up))
    if catch_up == 0:
        ticks = [t for t in ticks if now - t <= GRACE]
    return [round(t * 1000) for t in ticks]
