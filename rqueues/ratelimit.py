"""A queue's rate limit: at most ``count`` job starts in any ``window`` seconds, over all workers.

claim.lua enforces it with a sliding-window log (the queue's ``starts`` zset, trimmed
to the window in each claim): no burst beyond the limit, whatever window of the
declared length one looks at; memory at most ``count`` members.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import ConfigurationError

#: Most starts one window may allow: the log holds one member per start in the window.
MAX_RATE = 1_000_000
#: The longest window (a day) and the shortest (a millisecond is the claim's clock).
MAX_WINDOW = 86_400.0
UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86_400.0}
_FORM = re.compile(r"^\s*(\d+)\s*/\s*(\d*(?:\.\d+)?)\s*([smhd])\s*$")


@dataclass(frozen=True)
class RateLimit:
    """``count`` starts per ``window`` seconds."""

    count: int
    window: float = 1.0

    def __post_init__(self) -> None:
        if not isinstance(self.count, int) or isinstance(self.count, bool) or not 1 <= self.count <= MAX_RATE:
            raise ConfigurationError(f"rate limit must allow 1 to {MAX_RATE} starts, got {self.count!r}")
        if not isinstance(self.window, (int, float)) or not 0.001 <= self.window <= MAX_WINDOW:
            raise ConfigurationError(
                f"rate limit window must be 0.001 to {MAX_WINDOW:.0f} seconds, got {self.window!r}"
            )

    @property
    def window_ms(self) -> int:
        return round(self.window * 1000)

    def __str__(self) -> str:
        for unit, seconds in UNITS.items():
            if self.window == seconds:
                return f"{self.count}/{unit}"
        return f"{self.count}/{self.window:g}s"


def parse_rate(text: str) -> RateLimit:
    """``100/s``, ``30/m``, ``1000/h``, ``5/d``, or a window with a number: ``10/30s``."""
    found = _FORM.match(text)
    if not found:
        raise ConfigurationError(
            f"invalid rate limit {text!r}: write COUNT/UNIT, e.g. 100/s, 30/m, 1000/h, or 10/30s"
        )
    count, number, unit = found.groups()
    window = (float(number) if number else 1.0) * UNITS[unit]
    return RateLimit(int(count), window)


def as_rate(value: RateLimit | str | None) -> RateLimit | None:
    """A rate limit given as one or as its text; None: no limit."""
    if value is None or isinstance(value, RateLimit):
        return value
    if isinstance(value, str):
        return parse_rate(value)
    raise ConfigurationError(f"rate_limit must be a RateLimit or text like '100/s', got {value!r}")
