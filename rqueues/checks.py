"""Checks of the numbers and ids that declare and enqueue accept; each error names its field."""

from __future__ import annotations

import math

from . import defaults
from .errors import ConfigurationError


def check_int(name: str, value: object, minimum: int, maximum: int) -> int:
    """``value`` if it is an int (not a bool) in [minimum, maximum]."""
    if not isinstance(value, int) or isinstance(value, bool) or not minimum <= value <= maximum:
        raise ConfigurationError(f"{name} must be an integer >= {minimum} and <= {maximum}, got {value!r}")
    return value


def check_seconds(name: str, value: object, maximum: float, *, positive: bool = False) -> float:
    """``value`` as a float if it is a finite number of seconds in [0, maximum] (or (0, maximum])."""
    low = "> 0" if positive else ">= 0"
    days = f" ({maximum / 86_400:g} days)" if maximum >= 86_400 else ""
    if (
        not isinstance(value, (int, float))
        or isinstance(value, bool)
        or not math.isfinite(value)
        or value < 0
        or (positive and value == 0)
        or value > maximum
    ):
        raise ConfigurationError(f"{name} must be {low} seconds and <= {maximum:.0f}{days}, got {value!r}")
    return float(value)


def _text_problem(what: str, value: object, limit: int) -> tuple[str, str]:
    """A name given by the caller, and what is wrong with its length ('' when nothing); one
    that is not a string is refused at once."""
    if not isinstance(value, str):
        raise ConfigurationError(f"{what} must be a string, got {value!r}")
    if not value.strip():
        return value, "it is empty or blank"
    if len(value) > limit:
        return value, f"it has {len(value)} characters"
    return value, ""


def check_job_id(job_id: object) -> str:
    """A job id: 1 to MAX_JOB_ID_LENGTH printable characters, no whitespace and no ':'
    (which the ids rqueues generates have, so the two never clash)."""
    limit = defaults.MAX_JOB_ID_LENGTH
    job_id, problem = _text_problem("job id", job_id, limit)
    if not problem and any(c.isspace() or not c.isprintable() for c in job_id):
        problem = "it contains whitespace or control characters"
    elif not problem and ":" in job_id:
        problem = "it contains ':'"
    if problem:
        raise ConfigurationError(
            f"invalid job id {job_id!r}: {problem}; use 1-{limit} printable characters, "
            "no whitespace and no ':'"
        )
    return job_id


def check_unique_key(key: object) -> str:
    """A unique key: 1 to MAX_UNIQUE_KEY_LENGTH printable characters, not blank."""
    limit = defaults.MAX_UNIQUE_KEY_LENGTH
    key, problem = _text_problem("unique_key", key, limit)
    if not problem and not key.isprintable():
        problem = "it contains control characters"
    if problem:
        raise ConfigurationError(f"invalid unique_key {key!r}: {problem}; use 1-{limit} printable characters")
    return key
