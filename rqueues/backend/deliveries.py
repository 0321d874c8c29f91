"""Which job a delivery carries: a lease's member is its stream entry id, not the job id."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .entries import read_entry
from .keys import QueueKeys
from .steps import Cmd, Ops, Steps, run_on


def jobs_of_steps(deliveries: Sequence[tuple[QueueKeys, str]]) -> Steps[list[str | None]]:
    """The job id in each delivery's stream entry (queue keys, entry id), in one round trip;
    None for an entry no longer in its stream (acknowledged meanwhile) or not written by rqueues."""
    if not deliveries:
        return []
    replies = yield Ops([Cmd("XRANGE", keys.stream_of(entry), entry, entry) for keys, entry in deliveries])
    out: list[str | None] = []
    for (keys, _), found in zip(deliveries, replies, strict=True):
        read = read_entry(keys.name, found[0][0], found[0][1]) if found else None
        if read is not None and read.raw_job:
            out.append(read.raw_job.decode(errors="replace"))
        else:
            out.append(read.job_id if read is not None else None)
    return out


def jobs_of(client: Any, deliveries: Sequence[tuple[QueueKeys, str]]) -> list[str | None]:
    return run_on(client, jobs_of_steps(deliveries))
