"""The `rqueues` command: a thin layer that parses arguments and calls the library."""

from __future__ import annotations

import functools
import json
import logging
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from .connection import URL_ENV, Connection, connect
from .errors import RqueuesError
from .inspect import list_jobs, list_workers
from .job import STATES, Job, outcome
from .output import emit
from .queue import JobOptions, Queue, queue_infos
from .routing import parse_tags
from .worker import Worker

F = TypeVar("F", bound=Callable[..., Any])

JOB_COLUMNS = (
    "id",
    "queue",
    "function",
    "state",
    "attempts",
    "enqueued_at",
    "started_at",
    "finished_at",
    "worker",
)
QUEUE_COLUMNS = ("name", "concurrency", "running", "waiting", "pending", "dead", "tags")
WORKER_COLUMNS = ("id", "host", "pid", "tags", "queues", "running", "concurrency", "age_seconds")


def with_connection(fn: F) -> F:
    """Adds --redis-url and --prefix and passes a Connection; turns rqueues errors into messages."""

    @click.option(
        "--redis-url",
        envvar=URL_ENV,
        default=None,
        help=f"Redis URL (default ${URL_ENV}, else redis://localhost:6379/0).",
    )
    @click.option("--prefix", default="rqueues", show_default=True, help="Key prefix.")
    @functools.wraps(fn)
    def wrapper(redis_url: str | None, prefix: str, **kwargs: Any) -> Any:
        try:
            return fn(connect(redis_url, prefix=prefix), **kwargs)
        except RqueuesError as exc:
            raise click.ClickException(str(exc)) from exc

    return wrapper  # type: ignore[return-value]


@click.group()
@click.version_option(package_name="rqueues")
def main() -> None:
    """rqueues: a Redis-backed worker pool with cluster-wide concurrency caps."""


@main.command()
@click.argument("name")
@click.option(
    "--concurrency",
    "-c",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Most jobs of this queue running at once, over all workers (0 = unlimited).",
)
@click.option("--tags", "-t", multiple=True, help="Tag pattern (regex) a worker must match; repeatable.")
@click.option(
    "--result-ttl",
    type=click.IntRange(min=1),
    default=86_400,
    show_default=True,
    help="Seconds a finished job's record and result are kept.",
)
@with_connection
def declare(conn: Connection, name: str, concurrency: int, tags: tuple[str, ...], result_ttl: int) -> None:
    """Create a queue or replace its settings; running workers pick them up at once."""
    config = Queue(name, conn).declare(concurrency, parse_tags(tags), result_ttl)
    limit = config.concurrency or "unlimited"
    click.echo(
        f"declared {name}: concurrency {limit}, tags {list(config.tags) or 'none'} (version {config.version})"
    )


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@with_connection
def queues(conn: Connection, as_json: bool) -> None:
    """List declared queues with their limit, running, waiting and tags."""
    rows = [i.to_json() for i in queue_infos(conn, conn.declared_queues())]
    for row in rows:
        row["concurrency"] = row["concurrency"] or ("unlimited" if not as_json else 0)
    emit(rows, QUEUE_COLUMNS, as_json)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@with_connection
def info(conn: Connection, as_json: bool) -> None:
    """Queues (limits, in use, waiting) and live workers."""
    qs = [i.to_json() for i in queue_infos(conn, conn.declared_queues())]
    ws = [w.to_json() for w in list_workers(conn)]
    if as_json:
        click.echo(json.dumps({"queues": qs, "workers": ws}, indent=2))
        return
    emit(qs, QUEUE_COLUMNS, False)
    click.echo()
    emit(ws, WORKER_COLUMNS, False)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@with_connection
def workers(conn: Connection, as_json: bool) -> None:
    """List live workers with host, pid, tags, queues and running jobs."""
    emit([w.to_json() for w in list_workers(conn)], WORKER_COLUMNS, as_json)


@main.command()
@click.option("--queues", "-q", default=None, help="Comma-separated queues (default: every matching queue).")
@click.option("--tags", "-t", multiple=True, help="Worker tag, e.g. has=gpu; repeatable or comma-separated.")
@click.option(
    "--concurrency",
    "-c",
    type=click.IntRange(min=1),
    default=8,
    show_default=True,
    help="Job slots (threads) in this worker.",
)
@click.option("--import", "imports", multiple=True, help="Module whose functions jobs may run; repeatable.")
@click.option("--burst", is_flag=True, help="Exit once no job is left.")
@click.option("--worker-id", default=None, help="Worker id (default host.pid.random).")
@click.option("--log-level", default="INFO", show_default=True)
@with_connection
def worker(
    conn: Connection,
    queues: str | None,
    tags: tuple[str, ...],
    concurrency: int,
    imports: tuple[str, ...],
    burst: bool,
    worker_id: str | None,
    log_level: str,
) -> None:
    """Run a worker until SIGTERM/Ctrl-C (running jobs finish first)."""
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    sys.path.insert(0, os.getcwd())  # so --import finds the project's own modules
    names = [q for q in (queues or "").split(",") if q.strip()] or None
    Worker(
        conn,
        queues=names,
        tags=parse_tags(tags),
        concurrency=concurrency,
        imports=imports,
        burst=burst,
        worker_id=worker_id,
    ).run()


@main.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.argument("queue")
@click.argument("function")
@click.option("--job-id", default=None, help="Use this job id instead of a generated one.")
@click.option("--job-timeout", type=float, default=None, help="Seconds the job may run.")
@click.option("--result-ttl", type=click.IntRange(min=1), default=None, help="Seconds to keep the result.")
@click.option("--wait", "wait", type=float, default=None, help="Wait this many seconds and print the result.")
@with_connection
def enqueue(
    conn: Connection,
    queue: str,
    function: str,
    job_id: str | None,
    job_timeout: float | None,
    result_ttl: int | None,
    wait: float | None,
) -> None:
    """Enqueue FUNCTION (module:name) with ARGS; `--name value` becomes a keyword argument.

    Each value is parsed as JSON when it parses, else taken as a string.
    """
    args, kwargs = parse_call(click.get_current_context().args)
    opts = JobOptions(job_id=job_id, timeout=job_timeout, result_ttl=result_ttl)
    job = Queue(queue, conn).enqueue_many([(function, args, kwargs, opts)])[0]
    click.echo(job.id)
    if wait is not None:
        click.echo(json.dumps(job.wait(timeout=wait), default=str))


def parse_call(tokens: list[str]) -> tuple[list[Any], dict[str, Any]]:
    """Split CLI tokens into positional and keyword arguments (`--key value`, `--flag`)."""
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token.startswith("--") and len(token) > 2:
            name, eq, value = token[2:].partition("=")
            key = name.replace("-", "_")
            if eq:
                kwargs[key] = _value(value)
            elif i + 1 < len(tokens) and not tokens[i + 1].startswith("--"):
                kwargs[key] = _value(tokens[i + 1])
                i += 1
            else:
                kwargs[key] = True
        else:
            args.append(_value(token))
        i += 1
    return args, kwargs


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


@main.command()
@click.option("--queue", "-q", "queue_names", multiple=True, help="Only these queues; repeatable.")
@click.option("--state", "-s", type=click.Choice(STATES), default=None, help="Only jobs in this state.")
@click.option("--limit", type=click.IntRange(min=1), default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@with_connection
def jobs(
    conn: Connection, queue_names: tuple[str, ...], state: str | None, limit: int, as_json: bool
) -> None:
    """List jobs, newest first (like `guild runs --running`)."""
    records = list_jobs(conn, queue_names or None, state, limit)
    emit([r.to_json() for r in records], JOB_COLUMNS, as_json)


@main.command()
@click.argument("job_id")
@click.option("--queue", "-q", default=None, help="The job's queue (found automatically if omitted).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@with_connection
def job(conn: Connection, job_id: str, queue: str | None, as_json: bool) -> None:
    """Show one job: state, times, worker, result or error."""
    rec = Job.fetch(job_id, conn, queue).record()
    data = rec.to_json()
    call = rec.call()
    data["args"], data["kwargs"] = call if call else (None, None)
    if as_json:
        click.echo(json.dumps(data, indent=2, default=str))
        return
    for key, value in data.items():
        if key == "error" and value:
            click.echo(f"error: {value['type']}: {value['message']}")
            if value.get("traceback"):
                click.echo(value["traceback"].rstrip())
        elif value is not None:
            click.echo(f"{key}: {value}")


@main.command()
@click.argument("job_id")
@click.option("--queue", "-q", default=None, help="The job's queue (found automatically if omitted).")
@with_connection
def cancel(conn: Connection, job_id: str, queue: str | None) -> None:
    """Cancel a queued job (it will not run)."""
    handle = Job.fetch(job_id, conn, queue)
    if not handle.cancel():
        raise click.ClickException(f"job {job_id} is {handle.state}, not queued: not cancelled")
    click.echo(f"cancelled {job_id}")


@main.command()
@click.argument("job_id")
@click.option("--queue", "-q", default=None)
@click.option("--timeout", type=float, default=None, help="Give up after this many seconds.")
@with_connection
def wait(conn: Connection, job_id: str, queue: str | None, timeout: float | None) -> None:
    """Wait for a job and print its result as JSON (exit 1 if it failed)."""
    handle = Job.fetch(job_id, conn, queue)
    handle.wait(timeout)
    click.echo(json.dumps(outcome(handle.record()), default=str))


if __name__ == "__main__":
    main()
