"""`rqueues enqueue`: a call from the command line, with every per-job option."""

from __future__ import annotations

from typing import TextIO

import click

from .. import defaults
from ..backend.store import Store
from ..options import ON_DUPLICATE, JobOptions
from ..queue import Queue
from ..when import parse_instant
from .calls import merge_call, parse_call, read_call
from .kit import DURATION, with_connection
from .waiting import EXIT_HELP, wait_and_report


@click.command(context_settings={"ignore_unknown_options": True}, epilog=f"With --wait: {EXIT_HELP}")
@click.argument("queue")
@click.argument("function")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.option("--args-json", type=click.File("r"), default=None, help=(
    "Read the call from a JSON file ('-' for standard input): an array of positional "
    'arguments, or {"args": [...], "kwargs": {...}}.'
))  # fmt: skip
@click.option("--job-id", default=None, help="Use this job id instead of a generated one.")
@click.option("--job-timeout", type=float, default=None, help="Seconds the job may run.")
@click.option(
    "--result-ttl",
    type=click.IntRange(min=1, max=defaults.MAX_RESULT_TTL),
    default=None,
    help="Seconds to keep the result.",
)
@click.option(
    "--in", "--delay", "delay", type=DURATION, default=None, help="Run it after this long: 30, 90s, 5m, 2h."
)
@click.option(
    "--at",
    "at",
    default=None,
    help="Run it at this ISO 8601 time with its offset (2030-01-01T09:00+01:00, ...Z).",
)
@click.option("--retries", type=click.IntRange(min=0), default=None, help="Retries after a failure.")
@click.option("--backoff", type=click.FloatRange(min=0), default=None, help="First retry delay, seconds.")
@click.option(
    "--wait",
    "wait",
    type=click.FloatRange(min=0),
    default=None,
    help="Wait up to this many seconds and print the result (or the error, with the exit status of `wait`).",
)
@click.option(
    "--unique-key", default=None, help="At most one waiting or running job of the queue has this key."
)
@click.option(
    "--on-duplicate",
    type=click.Choice(ON_DUPLICATE),
    default="return",
    show_default=True,
    help="When another job holds the key: print its id, or fail.",
)
@click.option("--depends-on", multiple=True, help="Run only after this job succeeded (repeatable).")
@click.option("--allow-failure", is_flag=True, help="With --depends-on: run whatever the parents' outcome.")
@click.option(
    "--priority",
    type=click.IntRange(min=defaults.MIN_PRIORITY, max=defaults.MAX_PRIORITY),
    default=None,
    help="0 (default) to 9: among the queue's waiting jobs, higher runs first.",
)
@with_connection
def enqueue(
    conn: Store,
    queue: str,
    function: str,
    args: tuple[str, ...],
    args_json: TextIO | None,
    job_id: str | None,
    job_timeout: float | None,
    result_ttl: int | None,
    delay: float | None,
    at: str | None,
    retries: int | None,
    backoff: float | None,
    wait: float | None,
    unique_key: str | None,
    on_duplicate: str,
    depends_on: tuple[str, ...],
    allow_failure: bool,
    priority: int | None,
) -> None:
    """Enqueue FUNCTION (module:name) on QUEUE with ARGS; prints the job id.

    Each of ARGS is parsed as JSON when it parses, else taken as a string;
    `--name value` (or `--name=value`) becomes a keyword argument. A keyword
    argument whose name is one of this command's options goes after `--`, or
    in --args-json.
    """
    call_args, kwargs = parse_call(list(args))
    if args_json is not None:
        call_args, kwargs = merge_call(read_call(args_json), call_args, kwargs)
    opts = JobOptions(
        job_id=job_id,
        timeout=job_timeout,
        result_ttl=result_ttl,
        delay=delay,
        at=parse_instant(at) if at is not None else None,
        retries=retries,
        backoff=backoff,
        unique_key=unique_key,
        on_duplicate=on_duplicate,
        depends_on=depends_on or None,
        allow_failure=allow_failure,
        priority=priority,
    )
    job = Queue(queue, conn).enqueue_many([(function, call_args, kwargs, opts)])[0]
    click.echo(job.id)
    if job.duplicate:
        click.echo(f"not enqueued: job {job.id} holds unique key {unique_key!r}", err=True)
    if wait is not None:
        wait_and_report(job, wait)
