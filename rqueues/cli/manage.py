"""CLI commands for a queue's lifecycle: purge its backlog, delete it, pause and resume it."""

from __future__ import annotations

import sys

import click

from ..backend.counts import read_counts
from ..backend.store import Store
from ..errors import QueueNotDeclared
from ..queue import Queue
from .kit import with_connection


def _confirm(question: str, yes: bool) -> None:
    """Go on with ``--yes``, or when a person at a terminal says so; else stop with exit code 1."""
    if yes:
        return
    if sys.stdin.isatty() and click.confirm(question, default=False):
        return
    raise click.ClickException(f"{question} Not done: pass --yes to confirm.")


@click.command()
@click.argument("name")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@with_connection
def purge(conn: Store, name: str, yes: bool) -> None:
    """Drop the waiting and scheduled jobs of queue NAME; running jobs finish."""
    with conn.guard():
        counts = read_counts(conn, [name]).get(name)
    if counts is None:
        raise QueueNotDeclared(name)
    _confirm(f"Drop {counts.waiting} waiting and {counts.scheduled} scheduled job(s) of {name!r}?", yes)
    done = Queue(name, conn).purge()
    click.echo(f"purged {name}: {done.waiting} waiting and {done.scheduled} scheduled job(s) dropped")


@click.command()
@click.argument("name")
@click.option("--force", is_flag=True, help="Delete even while live workers consume it.")
@click.option("--drop-running", is_flag=True, help="Delete even with jobs running (their outcomes are lost).")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@with_connection
def delete(conn: Store, name: str, force: bool, drop_running: bool, yes: bool) -> None:
    """Delete queue NAME with every key of it: settings, jobs, records, dead letters."""
    with conn.guard():
        declared = name in read_counts(conn, [name])
    if not declared:
        raise QueueNotDeclared(name)
    _confirm(f"Delete queue {name!r} and all its jobs?", yes)
    removed = Queue(name, conn).delete(force=force, drop_running=drop_running)
    click.echo(f"deleted {name}: {removed} key(s) removed")


@click.command()
@click.argument("name")
@with_connection
def pause(conn: Store, name: str) -> None:
    """Pause queue NAME: it accepts enqueues and starts nothing; running jobs finish."""
    Queue(name, conn).pause()
    click.echo(f"paused {name}: no job of it starts until `rqueues resume {name}`")


@click.command()
@click.argument("name")
@with_connection
def resume(conn: Store, name: str) -> None:
    """Resume queue NAME: its workers start its jobs again at once."""
    Queue(name, conn).resume()
    click.echo(f"resumed {name}")


COMMANDS = (purge, delete, pause, resume)
