"""Reading a queue's stream in tests: which job each entry carries, whatever its shape."""

from __future__ import annotations

from typing import Any

from rqueues.backend.entries import read_entry
from rqueues.backend.keys import QueueKeys


def job_of(keys: QueueKeys, entry: bytes, fields: dict[bytes, bytes]) -> str | None:
    """The job id a stream entry of ``keys``' queue carries (a fresh entry's, or a re-added one's)."""
    read = read_entry(keys.name, entry, fields)
    return read.job_id if read else None


def entry_jobs(client: Any, keys: QueueKeys) -> list[tuple[str, str | None]]:
    """(entry id, job id) of every entry in the queue's stream, oldest first."""
    return [(e.decode(), job_of(keys, e, f)) for e, f in client.xrange(keys.stream)]
