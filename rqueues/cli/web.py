"""`rqueues web`: the dashboard (needs the ``web`` extra)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from ..backend.store import Store
from ..errors import ConfigurationError
from .kit import with_connection

TOKEN_ENV = "RQUEUES_WEB_TOKEN"
BASIC_ENV = "RQUEUES_WEB_BASIC_AUTH"
MISSING_EXTRA = "the web dashboard needs its extra: pip install 'rqueues[web]'"


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True, help="Port.")
@click.option("--read-only", is_flag=True, help="Show everything, allow no action.")
@click.option(
    "--token-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help=f"File holding the token actions need (default ${TOKEN_ENV}).",
)
@with_connection
def web(conn: Store, host: str, port: int, read_only: bool, token_file: Path | None) -> None:
    """Serve the web dashboard: queues, jobs, workers, dead letters, and actions on them.

    Actions need the token (RQUEUES_WEB_TOKEN or --token-file) or basic credentials
    (RQUEUES_WEB_BASIC_AUTH=user:password); without either, on loopback a token is made
    for the run and printed once.
    """
    try:
        from ..web.server import serve
    except ImportError as exc:
        if (exc.name or "").split(".")[0] in ("starlette", "uvicorn"):
            raise click.ClickException(MISSING_EXTRA) from exc
        raise
    token = os.environ.get(TOKEN_ENV) or None
    if token_file is not None:
        token = token_file.read_text().strip()
        if not token:
            raise ConfigurationError(f"the token file {token_file} is empty")
    basic = None
    if os.environ.get(BASIC_ENV):
        user, sep, password = os.environ[BASIC_ENV].partition(":")
        if not (sep and user and password):
            raise ConfigurationError(f"{BASIC_ENV} must be user:password")
        basic = (user, password)
    serve(
        conn, host=host, port=port, read_only=read_only, token=token, basic=basic,
        say=lambda line: click.echo(line, err=True),
    )  # fmt: skip
