"""Server settings rqueues' promises depend on, checked when a worker starts."""

from __future__ import annotations

from typing import Any

import redis

REQUIRED = {
    "appendonly": ("yes", "jobs acknowledged as enqueued are lost when Redis restarts"),
    "maxmemory-policy": (
        "noeviction",
        "Redis may evict job records, streams or leases under memory pressure",
    ),
}


def setting_warnings(client: Any) -> list[str]:
    """One line per setting that breaks a promise; [] when all is well or CONFIG is refused."""
    try:
        config = {k: v for k, v in client.config_get("*").items()}
    except redis.ResponseError:
        return []  # managed services often disable CONFIG: nothing to check
    out = []
    for name, (wanted, risk) in REQUIRED.items():
        value = config.get(name, config.get(name.encode(), b""))
        value = value.decode() if isinstance(value, bytes) else str(value)
        if value != wanted:
            out.append(f"Redis has {name} {value or '?'} (want {wanted}): {risk}")
    fsync = config.get("appendfsync", config.get(b"appendfsync", b""))
    fsync = fsync.decode() if isinstance(fsync, bytes) else str(fsync)
    if fsync == "no":
        out.append("Redis has appendfsync no (want everysec): up to ~30s of writes can be lost on a crash")
    return out
