"""Table and JSON output for the CLI, in one place."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import click

from ..observe.table import table

__all__ = ["emit", "table"]


def emit(rows: Sequence[dict[str, Any]], columns: Sequence[str], as_json: bool) -> None:
    """Print rows as JSON (a list of objects) or as an aligned table of ``columns``."""
    if as_json:
        click.echo(json.dumps(list(rows), indent=2, default=str))
        return
    click.echo(table(rows, columns))
