"""CLI commands for watching a cluster: job listings, the Prometheus exporter and `rqueues top`."""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path

import click

from ..backend.store import Store
from ..defaults import MAX_PAGE
from ..job import STATES
from ..observe.listing import job_row, list_jobs
from .kit import dead_after_option, with_connection
from .logs import log_format_option, log_level_option, setup_logging
from .output import emit

JOB_COLUMNS = (
    "id", "queue", "function", "state", "attempts", "enqueued_at", "started_at", "finished_at", "worker",
    "progress",
)  # fmt: skip
#: Scheduled jobs have not started: their due time instead.
SCHEDULED_COLUMNS = ("id", "queue", "function", "state", "attempts", "enqueued_at", "due_at")


@click.command()
@click.option("--queue", "-q", "queue_names", multiple=True, help="Only these queues; repeatable.")
@click.option("--state", "-s", type=click.Choice(STATES), default=None, help="Only jobs in this state.")
@click.option(
    "--limit", type=click.IntRange(1, MAX_PAGE), default=100, show_default=True, help="Most jobs on the page."
)
@click.option("--cursor", default=None, help="Go on where an earlier page ended: the cursor it printed.")
@click.option(
    "--with-cursor",
    is_flag=True,
    help='With --json: print {"jobs": [...], "next_cursor": ...} (null on the last page), not the list.',
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (a list of jobs).")
@with_connection
def jobs(
    conn: Store,
    queue_names: tuple[str, ...],
    state: str | None,
    limit: int,
    cursor: str | None,
    with_cursor: bool,
    as_json: bool,
) -> None:
    """List a page of jobs; --state filters (queued, running, failed, ...).

    Running jobs come newest first, queued ones next to run first, scheduled ones
    soonest due first, deferred ones (waiting for their parents) first enqueued
    first, finished and dead ones newest first. Without --state: running,
    queued, scheduled, deferred, then every final state. Each page reads the
    queues' indexes of those states, never the whole keyspace. When there is
    more, the next page's cursor is printed on stderr (in the JSON with
    --with-cursor): pass it to --cursor with the same --state.
    """
    if with_cursor and not as_json:
        raise click.UsageError("--with-cursor goes with --json")
    page = list_jobs(conn, queue_names or None, state, limit, cursor)
    rows = [r.to_json() for r in page]
    if with_cursor:
        click.echo(json.dumps({"jobs": rows, "next_cursor": page.next_cursor}, indent=2, default=str))
        return
    emit(
        rows if as_json else [job_row(r) for r in page],
        SCHEDULED_COLUMNS if state == "scheduled" else JOB_COLUMNS,
        as_json,
    )
    if page.next_cursor:
        click.echo(f"next page: --cursor {page.next_cursor}", err=True)


@click.command()
@click.option("--port", type=click.IntRange(1, 65535), default=9808, show_default=True)
@click.option("--addr", default="0.0.0.0", show_default=True, help="Address to listen on.")
@dead_after_option
@click.option(
    "--once", is_flag=True, help="Print one scrape to stdout and exit (e.g. for a textfile collector)."
)
@log_level_option
@log_format_option
@with_connection
def exporter(
    conn: Store, port: int, addr: str, dead_after: float, once: bool, log_level: str, log_format: str
) -> None:
    """Serve the cluster's queues, workers and reaper as Prometheus metrics, read from Redis per scrape."""
    from ..observe.exporter import exporter_registry, run_exporter

    if once:
        from prometheus_client import generate_latest

        click.echo(generate_latest(exporter_registry(conn, dead_after)).decode(), nl=False)
        return
    setup_logging(log_level, log_format)
    run_exporter(conn, port, addr, dead_after)


@click.command()
@click.option(
    "--interval", type=click.FloatRange(min=0.1), default=1.0, show_default=True, help="Seconds per refresh."
)
@click.option(
    "--window", type=click.FloatRange(min=1), default=10.0, show_default=True, help="Seconds rates cover."
)
@click.option("--count", "-n", type=click.IntRange(min=1), default=None, help="Stop after this many frames.")
@dead_after_option
@with_connection
def top(conn: Store, interval: float, window: float, count: int | None, dead_after: float) -> None:
    """Live view of queues (limit, in use, waiting, rates, p95 wait) and workers; Ctrl-C quits."""
    from ..observe.top import run_top

    try:
        run_top(conn, interval, window, count, dead_after=dead_after)
    except KeyboardInterrupt:
        pass


@click.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def dashboards(directory: Path) -> None:
    """Write the Grafana dashboards shipped with rqueues into DIRECTORY (for provisioning)."""
    directory.mkdir(parents=True, exist_ok=True)
    for item in sorted(files("rqueues.observe").joinpath("dashboards").iterdir(), key=lambda i: i.name):
        if item.name.endswith(".json"):
            (directory / item.name).write_text(item.read_text())
            click.echo(str(directory / item.name))


COMMANDS = [jobs, exporter, top, dashboards]
