"""Which job a delivery carries: a lease's member is its stream entry id, not the job id."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .keys import QueueKeys


def jobs_of(client: Any, deliveries: Sequence[tuple[QueueKeys, str]]) -> list[str | None]:
    """The job id in each delivery's stream entry (queue keys, entry id), in one round trip;
    None for an entry no longer in its stream (acknowledged meanwhile) or not written by rqueues."""
    if not deliveries:
        return []
    pipe = client.pipeline(transaction=False)
    for keys, entry in deliveries:
        pipe.xrange(keys.stream, entry, entry)
    out: list[str | None] = []
    for found in pipe.execute():
        job = found[0][1].get(b"job") if found else None
        out.append(job.decode(errors="replace") if job else None)
    return out
