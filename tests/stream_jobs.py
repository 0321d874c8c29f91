"""Reading a queue's stream in tests: which job each entry carries, whatever its shape."""

from __future__ import annotations

from typing import Any

from rqueues.backend.entries import read_entry
from rqueues.backend.keys import QueueKeys
from rqueues.backend.levels import ordered


def job_of(keys: QueueKeys, entry: bytes, fields: dict[bytes, bytes]) -> str | None:
    """The job id a stream entry of ``keys``' queue carries (a fresh entry's, or a re-added one's)."""
    read = read_entry(keys.name, entry, fields)
    return read.job_id if read else None


def streams(client: Any, keys: QueueKeys) -> list[str]:
    """The queue's streams in the order a claim reads them: its priority levels' in use
    (a job given back waits in the RETURNED level's), then its own."""
    return [keys.level_stream(level) for level in ordered(client.hkeys(keys.levels))]


def entry_jobs(client: Any, keys: QueueKeys) -> list[tuple[str, str | None]]:
    """(entry id, job id) of every entry in the queue's streams, in the order a claim takes them."""
    return [(e.decode(), job_of(keys, e, f)) for s in streams(client, keys) for e, f in client.xrange(s)]
