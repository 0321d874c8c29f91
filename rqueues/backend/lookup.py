"""Finding a job by id: in its record, or, while it waits without one, in its stream entry.

A job to run now has no record until a claim starts it (see entries.py): its entry
is found from its id when the id was generated from the entry (XRANGE on the entry id
it ends with), else through the queue's ids hash. The entry is read before the record, in one pipeline: a job
whose entry is gone by then has its record written already (the claim writes it in
the same step as it takes the entry), so a job is never missed between the two.

Each lookup is written once as steps (steps.py), for the sync and the asyncio client.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .entries import Entry, generated_entry, read_entry
from .keys import QueueKeys
from .steps import Cmd, Ops, Steps

#: Reads of a job with an id of its own whose entry keeps being taken under our feet.
_ATTEMPTS = 3


def _queue_lookup(keys: QueueKeys, job_id: str) -> Cmd:
    entry = generated_entry(keys.name, job_id)
    if entry is not None:
        return Cmd("XRANGE", keys.stream_of(entry), entry, entry)  # the entry names its level
    return Cmd("HGET", keys.ids, job_id)


def _fresh(keys: QueueKeys, found: Any, job_id: str) -> Entry | None:
    """The fresh entry of ``job_id`` among XRANGE's reply ``found``, if it is there."""
    for entry_id, fields in found or ():
        entry = read_entry(keys.name, entry_id, fields)
        if entry is not None and entry.fresh and entry.job_id == job_id:
            return entry
    return None


def _waiting(keys: QueueKeys, found: Any, job_id: str) -> bool:
    if generated_entry(keys.name, job_id) is not None:
        return _fresh(keys, found, job_id) is not None
    return found is not None


def exists_steps(queues: Sequence[QueueKeys], job_id: str) -> Steps[list[bool]]:
    """Whether each of ``queues`` holds a job ``job_id``, in one round trip."""
    ops: list[Cmd] = []
    for keys in queues:
        ops += [_queue_lookup(keys, job_id), Cmd("EXISTS", keys.job(job_id))]
    replies = yield Ops(ops)
    return [
        bool(recorded) or _waiting(keys, found, job_id)
        for keys, found, recorded in zip(queues, replies[0::2], replies[1::2], strict=True)
    ]


def state_steps(keys: QueueKeys, job_id: str) -> Steps[str | None]:
    """The job's state: its record's, else 'queued' while its entry waits; None when neither."""
    found, recorded = yield Ops([_queue_lookup(keys, job_id), Cmd("HGET", keys.job(job_id), "state")])
    if recorded is not None:
        return str(recorded.decode())
    return "queued" if _waiting(keys, found, job_id) else None


def find_steps(keys: QueueKeys, job_id: str) -> Steps[tuple[dict[bytes, bytes], Entry | None]]:
    """The job's record, or ({}, its waiting fresh entry), or ({}, None) when neither exists."""
    for _ in range(_ATTEMPTS):
        found, raw = yield Ops([_queue_lookup(keys, job_id), Cmd("HGETALL", keys.job(job_id))])
        if raw:
            return raw, None
        if generated_entry(keys.name, job_id) is not None:
            return {}, _fresh(keys, found, job_id)
        if found is None:
            return {}, None
        entry_id = found.decode() if isinstance(found, bytes) else str(found)
        (again,) = yield Ops([Cmd("XRANGE", keys.stream_of(entry_id), entry_id, entry_id)])
        entry = _fresh(keys, again, job_id)
        if entry is not None:
            return {}, entry
        # Taken since the ids hash was read: its record is written now.
    return {}, None
