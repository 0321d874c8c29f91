"""What every CLI command shares: connection options and error reporting."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import click
import redis

from ..backend.clients import redact
from ..connection import URL_ENV, connect
from ..errors import RqueuesError
from ..liveness import DEAD_AFTER, MIN_DEAD_AFTER

F = TypeVar("F", bound=Callable[..., Any])


def with_connection(fn: F) -> F:
    """Adds --redis-url and --prefix and passes a Store; turns rqueues errors into messages."""

    @click.option(
        "--redis-url",
        envvar=URL_ENV,
        default=None,
        help=(
            "Redis URL: redis://, rediss://, unix://, redis+cluster:// or redis+sentinel:// "
            f"(default ${URL_ENV}, else redis://localhost:6379/0)."
        ),
    )
    @click.option("--prefix", default="rqueues", show_default=True, help="Key prefix.")
    @functools.wraps(fn)
    def wrapper(redis_url: str | None, prefix: str, **kwargs: Any) -> Any:
        conn = None
        try:
            conn = connect(redis_url, prefix=prefix)
            return fn(conn, **kwargs)
        except RqueuesError as exc:
            raise click.ClickException(str(exc)) from exc
        except (redis.ConnectionError, redis.TimeoutError) as exc:  # raised outside a guard()
            where = redact(conn.url) if conn is not None else "the given URL"
            raise click.ClickException(f"cannot reach Redis at {where}: {exc}") from exc
        except redis.RedisError as exc:  # e.g. OOM under noeviction: a message, not a traceback
            raise click.ClickException(f"Redis refused the command: {exc}") from exc

    return wrapper  # type: ignore[return-value]


#: The one liveness rule, shared by `worker`, `reaper`, `workers`, `top` and `exporter`:
#: never below two heartbeats.
dead_after_option = click.option(
    "--dead-after",
    type=click.FloatRange(min=MIN_DEAD_AFTER),
    default=DEAD_AFTER,
    show_default=True,
    help="Seconds without a heartbeat after which a worker counts as dead.",
)


class Duration(click.ParamType):  # type: ignore[type-arg]
    """Seconds, plain (``30``, ``1.5``) or with a unit: ``90s``, ``5m``, ``2h``, ``1d``."""

    name = "duration"
    UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400}

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, (int, float)):
            return float(value)
        text = str(value).strip().lower()
        unit = self.UNITS.get(text[-1:], None)
        number = text[:-1] if unit is not None else text
        try:
            seconds = float(number) * (unit or 1)
        except ValueError:
            self.fail(f"{value!r} is not a duration: write seconds (30) or 90s, 5m, 2h, 1d", param, ctx)
        if not 0 < seconds < float("inf"):
            self.fail(f"{value!r} must be a positive duration", param, ctx)
        return seconds


DURATION = Duration()
