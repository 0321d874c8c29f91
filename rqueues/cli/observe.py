"""CLI commands for watching a cluster: the Prometheus exporter and `rqueues top`."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import click

from ..backend.store import Store
from .kit import dead_after_option, with_connection
from .logs import log_format_option, log_level_option, setup_logging


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


COMMANDS = [exporter, top, dashboards]
