"""The two shapes of a queue's stream entries, and the ids of the jobs they carry.

- fresh, ``j=<msgpack [function, payload, options or nil, job id or nil]>`` (trailing
  nils left out): a job as enqueue wrote it. It has no record until a claim starts it.
  Its job id is generated from the entry, ``QUEUE:ENTRY-ID`` (see generated_id), unless
  the caller chose one: then it is the 4th item, and the queue's ``ids`` hash maps it to
  the entry until the job starts.
- re-added, ``job=<job id>``: a job that already has a record (given back, promoted from
  the scheduled set, requeued); the record holds its function, payload and options.

Lua reads the same shapes in claim.lua, cancel.lua, watch.lua, giveback.lua and purge.lua.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import msgpack

FRESH = "j"
READDED = "job"

#: The job id given for an entry whose job field cannot be decoded: no record has it.
NO_JOB_ID = ""

# A queue name (keys.check_queue_name), then a stream entry id (two 64-bit numbers).
_GENERATED = re.compile(r"^([A-Za-z0-9_.:-]{1,128}):([0-9]{1,19}-[0-9]{1,19})$")


def generated_id(queue: str, entry: str) -> str:
    """The id of a job enqueued without one: its queue and its fresh entry's id. A chosen
    id never has a ':' (checks.check_job_id), so it can never take this form, and the
    queue in it keeps ids unique across queues (entry ids are unique within one stream)."""
    return f"{queue}:{entry}"


def generated_entry(queue: str, job_id: str) -> str | None:
    """The entry id in ``job_id`` when it is a generated id of ``queue``, else None."""
    found = _GENERATED.match(job_id)
    return found.group(2) if found and found.group(1) == queue else None


def queue_of(job_id: str) -> str | None:
    """The queue a generated job id names, or None for an id chosen by its caller."""
    found = _GENERATED.match(job_id)
    return found.group(1) if found else None


def pack_fresh(function: str, payload: bytes, options: bytes, job_id: str | None) -> bytes:
    """The value of a fresh entry's ``j`` field; ``job_id`` only when the caller chose it.

    Every item is a msgpack str, never bin: the cmsgpack of Redis' Lua cannot read bin.
    """
    items: list[Any] = [function, payload]
    if options or job_id:
        items.append(options or None)
    if job_id:
        items.append(job_id)
    blob: bytes = msgpack.packb(items, use_bin_type=False)
    return blob


def job_id_of(raw: Any) -> str | None:
    """A job field as text, or None when it is not UTF-8 (written by something else)."""
    if not isinstance(raw, bytes):
        return str(raw)
    try:
        return raw.decode()
    except UnicodeDecodeError:
        return None


def undecodable_reason(raw: bytes) -> str:
    """The dead-letter reason of an entry whose job field is not UTF-8 (or empty)."""
    return f"job id is not UTF-8: {raw[:64]!r}" if raw else "job id is empty"


@dataclass(frozen=True)
class Entry:
    """One stream entry as rqueues wrote it.

    A fresh entry carries its job (``function``, ``payload``, ``options``); a re-added
    one only its ``job_id`` (its record has the rest). ``raw_job`` is set when a
    re-added entry's job field is not UTF-8: then ``job_id`` is NO_JOB_ID.
    """

    entry: str
    job_id: str
    fresh: bool
    function: str = ""
    payload: bytes = b""
    options: bytes = b""
    raw_job: bytes | None = None

    @property
    def enqueued_ms(self) -> int:
        """When the entry was added (its id's time part, Redis' clock)."""
        return int(self.entry.partition("-")[0])


def read_entry(queue: str, entry_id: str | bytes, fields: Mapping[bytes, bytes]) -> Entry | None:
    """The entry ``entry_id`` of ``queue``'s stream with ``fields``, or None when rqueues
    did not write it."""
    entry = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    if len(fields) != 1:
        return None
    if FRESH.encode() in fields:
        return _fresh(queue, entry, fields[FRESH.encode()])
    raw = fields.get(READDED.encode())
    if raw is None:
        return None
    job_id = job_id_of(raw)
    if job_id is None or not job_id:
        return Entry(entry, NO_JOB_ID, False, raw_job=bytes(raw))
    return Entry(entry, job_id, False)


def _fresh(queue: str, entry: str, blob: bytes) -> Entry | None:
    try:
        items = msgpack.unpackb(blob, raw=True)
    except Exception:  # msgpack raises several unrelated types
        return None
    if not isinstance(items, list) or not 2 <= len(items) <= 4:
        return None
    items += [None] * (4 - len(items))
    if not all(item is None or isinstance(item, bytes) for item in items):
        return None
    raw_function, payload, options, raw_job = items
    function, job_id = _utf8(raw_function), _utf8(raw_job)
    if not function or payload is None or (raw_job is not None and not job_id):
        return None
    return Entry(entry, job_id or generated_id(queue, entry), True, function, payload, options or b"")


def _utf8(raw: bytes | None) -> str | None:
    try:
        return raw.decode() if raw is not None else None
    except UnicodeDecodeError:
        return None
