"""CLI commands for failures: the reaper, dead letters, requeue, stop."""

from __future__ import annotations

import json
import threading

import click

from ..backend.store import Store
from ..errors import ConfigurationError
from ..job import Job
from ..observe.listing import list_dead
from ..worker.reaper import Health, Reaper, run_reaper, writes_settled
from .kit import dead_after_option, with_connection
from .logs import setup_logging
from .output import emit

DEAD_COLUMNS = ("queue", "id", "function", "dead_at", "reason")


@click.command()
@click.option("--once", is_flag=True, help="One pass, then exit.")
@click.option("--dry-run", is_flag=True, help="Show what would be given back; change nothing.")
@click.option(
    "--interval",
    type=click.FloatRange(min=0.1),
    default=1.0,
    show_default=True,
    help="Seconds between passes.",
)
@dead_after_option
@with_connection
def reaper(conn: Store, once: bool, dry_run: bool, interval: float, dead_after: float) -> None:
    """Give the jobs of dead workers back to their queues (workers also do this themselves)."""
    setup_logging("INFO")
    r = Reaper(conn, dead_after=dead_after, holder="rqueues-reaper", dry_run=dry_run)
    if once or dry_run:
        with conn.guard():
            report = r.reap_once()
        click.echo(
            json.dumps(
                {
                    "requeued" if not dry_run else "would_give_back": report.requeued,
                    "dead_lettered": report.dead_lettered,
                    "dead_workers": report.dead_workers,
                    "actions": report.actions,
                },
                indent=2,
            )
        )
        return
    stop = threading.Event()
    try:
        run_reaper(r, stop, interval, writes_settled(conn, Health(settle=dead_after)))
    except KeyboardInterrupt:
        stop.set()


@click.command()
@click.argument("queues", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@with_connection
def dead(conn: Store, queues: tuple[str, ...], as_json: bool) -> None:
    """List dead-lettered jobs (of QUEUES, default all) with the reason."""
    emit([d.to_json() for d in list_dead(conn, queues or None)], DEAD_COLUMNS, as_json)


@click.command()
@click.argument("job_id", required=False)
@click.option("--queue", "-q", default=None, help="The job's queue; with --all, the queue to requeue.")
@click.option("--all", "all_", is_flag=True, help="Requeue every dead letter of --queue.")
@with_connection
def requeue(conn: Store, job_id: str | None, queue: str | None, all_: bool) -> None:
    """Put a dead-lettered or failed job back on its queue, keeping its id and history."""
    if all_:
        if not queue or job_id:
            raise ConfigurationError("use either JOB_ID or --queue Q --all")
        ids = [d.job_id for d in list_dead(conn, [queue]) if d.job_id]
    elif job_id:
        ids = [job_id]
    else:
        raise ConfigurationError("name a JOB_ID, or --queue Q --all")
    done = 0
    for one in ids:
        handle = Job.fetch(one, conn, queue)
        if handle.requeue():
            done += 1
        else:
            click.echo(f"job {one} is {handle.state}, not dead or failed: not requeued", err=True)
    if job_id and not done:
        raise click.exceptions.Exit(1)  # the line above said why, once
    click.echo(f"requeued {done} job(s)")


@click.command()
@click.argument("job_id")
@click.option("--queue", "-q", default=None, help="The job's queue (found automatically if omitted).")
@with_connection
def stop(conn: Store, job_id: str, queue: str | None) -> None:
    """Stop a running job: its worker sets the job's cancellation flag within about a second."""
    handle = Job.fetch(job_id, conn, queue)
    if not handle.stop():
        raise click.ClickException(f"job {job_id} is {handle.state}, not running: not stopped")
    click.echo(f"stop requested for {job_id}")


COMMANDS = (reaper, dead, requeue, stop)
