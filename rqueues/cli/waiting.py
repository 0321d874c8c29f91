"""Waiting for a job from the command line: `rqueues wait` and `rqueues enqueue --wait`.

Both print the result as JSON on success, else a message on stderr, and exit with
a status a script can branch on.
"""

from __future__ import annotations

import enum
import json
from typing import NoReturn

import click
import redis

from ..backend.store import Store
from ..errors import JobCancelled, JobFailed, JobNotFound, RqueuesError, WaitTimeout
from ..job import Job
from .kit import with_connection


class WaitExit(enum.IntEnum):
    """Exit statuses of `rqueues wait` and `rqueues enqueue --wait`."""

    SUCCEEDED = 0
    FAILED = 1  # failed (retries exhausted or an error no retry can fix) or dead-lettered
    USAGE = 2  # bad arguments, or no such job
    CANCELLED = 3  # cancelled while waiting, or stopped while running
    TIMEOUT = 4  # still not finished when --timeout ran out
    UNKNOWN = 5  # could not find out: Redis unreachable or refusing


EXIT_HELP = (
    "Exit status: 0 succeeded, 1 failed or dead-lettered, 2 usage error or no such job, "
    "3 cancelled, 4 timed out, 5 Redis unreachable."
)


def wait_and_report(handle: Job, timeout: float | None) -> None:
    """Wait for ``handle``, print its result or its error, and exit with a WaitExit status."""
    try:
        result = handle.wait(timeout)
    except JobFailed as exc:
        _exit(WaitExit.FAILED, str(exc))
    except JobCancelled as exc:
        _exit(WaitExit.CANCELLED, str(exc))
    except WaitTimeout as exc:
        _exit(WaitExit.TIMEOUT, f"{exc}{_last_error(handle)}")
    except JobNotFound as exc:
        _exit(WaitExit.USAGE, str(exc))
    except (RqueuesError, redis.RedisError) as exc:
        _exit(WaitExit.UNKNOWN, str(exc))
    click.echo(json.dumps(result, default=str))


def _last_error(handle: Job) -> str:
    """What a job still waiting for a retry failed with last, so a timeout says why."""
    try:
        rec = handle.record()
    except (RqueuesError, redis.RedisError):
        return ""
    err = rec.error
    if not err or not err.get("type"):
        return ""
    return f"; attempt {rec.attempts} failed with {err['type']}: {err.get('message', '')}"


def _exit(status: WaitExit, message: str) -> NoReturn:
    click.echo(f"Error: {message}", err=True)
    raise click.exceptions.Exit(int(status))


@click.command(epilog=EXIT_HELP)
@click.argument("job_id")
@click.option("--queue", "-q", default=None, help="The job's queue (found automatically if omitted).")
@click.option(
    "--timeout", type=click.FloatRange(min=0), default=None, help="Give up after this many seconds."
)
@with_connection
def wait(conn: Store, job_id: str, queue: str | None, timeout: float | None) -> None:
    """Wait for a job and print its result as JSON; the exit status says how it ended."""
    try:
        handle = Job.fetch(job_id, conn, queue)
    except JobNotFound as exc:
        _exit(WaitExit.USAGE, str(exc))
    except (RqueuesError, redis.RedisError) as exc:
        _exit(WaitExit.UNKNOWN, str(exc))
    wait_and_report(handle, timeout)


COMMANDS = (wait,)
