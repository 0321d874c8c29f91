"""Log output of the long-running commands: plain lines or one JSON object per line."""

from __future__ import annotations

import logging

import click

from ..logoutput import TEXT, JsonFormatter, stderr_handler

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def setup_logging(level: str, fmt: str = "text") -> None:
    """Send log records to stderr in ``fmt`` ('text' or 'json') from ``level`` up."""
    handler = stderr_handler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


log_level_option = click.option(
    "--log-level",
    type=click.Choice(LEVELS, case_sensitive=False),
    default="INFO",
    show_default=True,
    help="Least severe log lines shown.",
)
log_format_option = click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Plain lines, or one JSON object per line for log shippers.",
)
