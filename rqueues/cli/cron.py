"""`rqueues cron add|list|remove`: periodic jobs declared in Redis, run by the workers."""

from __future__ import annotations

import click

from ..backend.store import Store
from ..cron import add_cron, list_cron, remove_cron
from ..schedule import MAX_CATCH_UP
from .calls import parse_call
from .kit import with_connection
from .output import emit

CRON_COLUMNS = ("name", "queue", "schedule", "tz", "function", "catch_up", "last_run", "next_run")


@click.group()
def cron() -> None:
    """Periodic jobs: each tick is enqueued once by whichever worker sees it first."""


@cron.command("add", context_settings={"ignore_unknown_options": True})
@click.argument("name")
@click.argument("schedule")
@click.argument("queue")
@click.argument("function")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.option("--tz", default="UTC", show_default=True, help="IANA timezone of the schedule (Europe/Paris).")
@click.option(
    "--catch-up",
    type=click.IntRange(0, MAX_CATCH_UP),
    default=1,
    show_default=True,
    help="Ticks missed while no worker ran that are enqueued when one runs again (0: skip them).",
)
@with_connection
def add(
    conn: Store,
    name: str,
    schedule: str,
    queue: str,
    function: str,
    args: tuple[str, ...],
    tz: str,
    catch_up: int,
) -> None:
    """Run FUNCTION (module:name) with ARGS on QUEUE at every tick of SCHEDULE.

    SCHEDULE is a cron expression: 5 fields (minute hour day month weekday), or 6
    with seconds first; quote it. ARGS are parsed as `rqueues enqueue` parses them.
    Adding a NAME that exists replaces it.
    """
    call_args, kwargs = parse_call(list(args))
    job = add_cron(conn, name, schedule, queue, function, call_args, kwargs, tz=tz, catch_up=catch_up)
    info = next(i for i in list_cron(conn) if i.job.name == name and i.job.queue == queue)
    when = info.to_json()["next_run"] or "never"
    click.echo(f"added {job.name}: {job.function} on {queue} at '{job.schedule.expr}' ({tz}), next {when}")


@cron.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@with_connection
def list_(conn: Store, as_json: bool) -> None:
    """Periodic jobs with their last and next run."""
    emit([i.to_json() for i in list_cron(conn)], CRON_COLUMNS, as_json)


@cron.command("remove")
@click.argument("name")
@click.option("--queue", "-q", default=None, help="The queue of the schedule (default: any).")
@with_connection
def remove(conn: Store, name: str, queue: str | None) -> None:
    """Remove periodic job NAME; a run already enqueued stays."""
    if not remove_cron(conn, name, queue):
        raise click.ClickException(f"no periodic job named {name!r}")
    click.echo(f"removed {name}")


COMMANDS = (cron,)
