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
    "queue", "function", "state", "attempts", "reclaims", "worker", "gpus",
    "enqueued_at", "started_at", "finished_at", "due_at", "reason", "unique_key", "args", "kwargs",
)  # fmt: skip


def job_text(data: dict[str, Any]) -> str:
    """One job for a person: its fields, its result, and each attempt's error with its traceback."""
    lines = [f"id: {data['id']}"]
    for key in _JOB_FIELDS:
        value = data.get(key)
        if value not in (None, "", [], {}):
            lines.append(f"{key}: {','.join(value) if key == 'gpus' else _show(value)}")
    for parent in data.get("parents") or []:
        told = f" ({parent['state']})" if parent.get("state") else ""
        lines.append(f"parent: {parent['id']} in {parent['queue']}{told}")
    if data.get("allow_failure"):
        lines.append("allow_failure: runs whatever its parents' outcome")
    if data.get("dependents"):
        lines.append("dependents: " + ", ".join(f"{d['id']} in {d['queue']}" for d in data["dependents"]))
    if data.get("progress"):
        lines.append(f"progress: {progress_line(data['progress'], data.get('attempts'))}")
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


def progress_line(progress: dict[str, Any], attempts: Any = None) -> str:
    """``42% loading shards (at 2026-01-02T03:04:05.678+00:00)``, from a job's JSON progress."""
    try:
        text = f"{float(progress['fraction']) * 100:.0f}%"
    except (KeyError, TypeError, ValueError):
        return _show(progress)
    if progress.get("message"):
        text += f" {progress['message']}"
    notes = [f"at {progress['at']}"] if progress.get("at") else []
    if progress.get("attempt") not in (None, 0, attempts):
        notes.append(f"attempt {progress['attempt']}")
    return text + (f" ({', '.join(notes)})" if notes else "")


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return all(a.get(k) == b.get(k) for k in ("type", "message", "traceback"))


def _show(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str)
