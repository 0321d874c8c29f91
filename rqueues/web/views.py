"""The JSON the page shows, made from what the library reads: jobs, queues, workers."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from ..observe.snapshot import Snapshot
from ..observe.top import QueueRates, info_json
from ..record import JobRecord
from .http import Redact

#: What each state lets an operator do, by the library call that does it.
ACTIONS = {
    "queued": ("cancel",), "scheduled": ("cancel",), "deferred": ("cancel",),
    "running": ("stop",), "failed": ("requeue",), "dead": ("requeue",),
}  # fmt: skip


def jsonable(value: Any) -> Any:
    """msgpack values as JSON: bytes as text when UTF-8, else as {"base64": ...}."""
    if isinstance(value, bytes):
        try:
            return value.decode()
        except UnicodeDecodeError:
            return {"base64": base64.b64encode(value).decode()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(jsonable(k)): jsonable(v) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


def show_everything(record: JobRecord) -> dict[str, Any]:
    """The default ``redact``: the call's arguments as they are."""
    call = record.call()
    args, kwargs = call if call else (None, None)
    return {"args": args, "kwargs": kwargs}


def job_row(record: JobRecord) -> dict[str, Any]:
    """A job in a listing: no arguments, no result, no traceback."""
    data = record.to_json()
    for key in ("result", "errors"):
        data.pop(key, None)
    err = data.get("error")
    if err:
        data["error"] = {"type": err.get("type", ""), "message": err.get("message", "")}
    data["reason"] = record.reason
    return data


def job_detail(record: JobRecord, redact: Redact) -> dict[str, Any]:
    """Everything about one job; its call and result through ``redact``.

    The record's other fields (progress, GPUs, unique key, parents, dependents) come
    through ``to_json`` unchanged."""
    data = record.to_json()
    data["args"], data["kwargs"] = None, None
    shown = redact(record)
    for key in ("args", "kwargs", "result"):
        if key in shown:
            data[key] = shown[key]
    data["args"], data["kwargs"], data["result"] = (jsonable(data[k]) for k in ("args", "kwargs", "result"))
    data["reason"] = record.reason
    data["options"] = jsonable(record.options)
    data["actions"] = list(ACTIONS.get(record.state, ()))
    return data


def overview(snap: Snapshot, rates: Mapping[str, QueueRates]) -> dict[str, Any]:
    """Every queue with its counts, rates and state; the workers in short."""
    data = info_json(snap, rates, {})
    return {
        "time": data["time"],
        "redis_refusing_writes": data["redis_refusing_writes"],
        "queues": data["queues"],
        "workers": len(snap.workers),
        "dead_workers": snap.dead_workers,
        "reaper": data["reaper"],
    }
