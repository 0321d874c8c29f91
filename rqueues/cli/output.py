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


#: Fields of a job's JSON shown as "name: value" lines, in this order.
_JOB_FIELDS = (
    "queue", "function", "state", "attempts", "reclaims", "worker",
    "enqueued_at", "started_at", "finished_at", "due_at", "args", "kwargs",
)  # fmt: skip


def job_text(data: dict[str, Any]) -> str:
    """One job for a person: its fields, its result, and each attempt's error with its traceback."""
    lines = [f"id: {data['id']}"]
    for key in _JOB_FIELDS:
        value = data.get(key)
        if value not in (None, "", [], {}):
            lines.append(f"{key}: {_show(value)}")
    if data.get("progress") is not None:
        lines.append(f"progress: {_show(data['progress'])}")
    if data.get("state") == "succeeded":
        lines.append(f"result: {_show(data.get('result'))}")
    attempts = data.get("errors") or []
    final = data.get("error")
    if final and not any(_same(final, e) for e in attempts):
        attempts = [*attempts, {"attempt": data.get("attempts"), **final}]
    for err in attempts:
        lines.append(
            f"  attempt {err.get('attempt')}: {err.get('type') or 'error'}: {err.get('message', '')}"
        )
        trace = (err.get("traceback") or "").rstrip()
        lines += [f"    {line}" for line in trace.splitlines()]
    return "\n".join(lines)


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return all(a.get(k) == b.get(k) for k in ("type", "message", "traceback"))


def _show(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str)
