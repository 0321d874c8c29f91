"""Read-only views for the CLI and scripts: jobs by state, workers."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..backend.deliveries import jobs_of
from ..backend.entries import job_id_of, read_entry
from ..backend.keys import GROUP
from ..backend.store import Store
from ..errors import ConfigurationError
from ..job import STATES, JobRecord, iso
from ..liveness import DEAD_AFTER, is_live

_SCAN_COUNT = 1000


def list_jobs(
    conn: Store, queues: Iterable[str] | None = None, state: str | None = None, limit: int = 100
) -> list[JobRecord]:
    """Jobs of the given queues (default: all declared), newest first.

    Running jobs come from the leases (each names its stream entry, which names the
    job), queued ones from the stream after the group's delivery point (a job to run
    now has no record yet: its entry holds it); finished ones need a SCAN of job
    records, bounded by ``limit``.
    """
    if state is not None and state not in STATES:
        raise ConfigurationError(f"unknown state {state!r}; expected one of {', '.join(STATES)}")
    names = list(queues) if queues else conn.declared_queues()
    records: list[JobRecord] = []
    with conn.guard():
        for name in names:
            if state == "queued":
                records.extend(r for r in _queued(conn, name, limit) if r.state == state)
                continue
            ids = _candidate_ids(conn, name, state, limit)
            found = [r for r in _records(conn, name, ids) if state is None or r.state == state]
            if state is None:  # jobs to run now have no record until they start
                recorded = {r.id for r in found}
                found += [r for r in _queued(conn, name, limit) if r.id not in recorded]
            records.extend(found)
    records.sort(key=lambda r: r.enqueued_at or 0, reverse=True)
    return records[:limit]


def _candidate_ids(conn: Store, queue: str, state: str | None, limit: int) -> list[str]:
    keys = conn.keys.queue(queue)
    r = conn.redis
    if state == "running":  # a lease's member is its delivery's entry id
        entries = [(keys, m.decode()) for m in r.zrange(keys.leases, 0, -1)]
        return [job for job in jobs_of(r, entries) if job is not None]
    ids: list[str] = []
    cursor = 0
    prefix = keys.job_prefix
    while True:
        cursor, found = conn.scan(cursor, prefix + "*", _SCAN_COUNT, slot_key=keys.stream)
        ids.extend(k.decode(errors="replace")[len(prefix) :] for k in found)
        if cursor == 0 or (state is None and len(ids) >= limit):
            return ids


def _queued(conn: Store, queue: str, limit: int) -> list[JobRecord]:
    """The jobs waiting in the stream after the group's delivery point, oldest first: a
    fresh entry is its job until a record exists (a cancelled tombstone, a watched job),
    a re-added entry names a job with a record."""
    keys = conn.keys.queue(queue)
    r = conn.redis
    groups = r.xinfo_groups(keys.stream) if r.exists(keys.stream) else []
    start = next((g["last-delivered-id"] for g in groups if g["name"] == GROUP.encode()), b"0-0")
    found = [read_entry(queue, e, f) for e, f in r.xrange(keys.stream, min=b"(" + start, count=limit)]
    entries = [e for e in found if e is not None and e.job_id]
    pipe = r.pipeline(transaction=False)
    for entry in entries:
        pipe.hgetall(keys.job(entry.job_id))
    out = []
    for entry, raw in zip(entries, pipe.execute(), strict=True):
        if raw:
            out.append(JobRecord.from_hash(queue, entry.job_id, raw))
        elif entry.fresh:
            out.append(JobRecord.from_entry(queue, entry))
    return out


def _records(conn: Store, queue: str, ids: list[str]) -> list[JobRecord]:
    keys = conn.keys.queue(queue)
    pipe = conn.redis.pipeline(transaction=False)
    for job_id in ids:
        pipe.hgetall(keys.job(job_id))
    return [JobRecord.from_hash(queue, j, raw) for j, raw in zip(ids, pipe.execute(), strict=True) if raw]


@dataclass(frozen=True)
class WorkerInfo:
    """A worker as its last heartbeat described it."""

    id: str
    last_heartbeat: float
    age: float  # seconds since the last heartbeat, by Redis' clock (heartbeats use it too)
    info: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "last_heartbeat": iso(self.last_heartbeat),
            "age_seconds": round(self.age, 3),
            **self.info,
            # Stamped in ms by the heartbeat; --json shows every time as ISO 8601.
            "started_at": iso(self.info["started_at"] / 1000)
            if _number(self.info.get("started_at"))
            else None,
        }


def decode_worker_hash(raw: Mapping[bytes, bytes]) -> dict[str, Any]:
    """A worker's registry hash as the heartbeat wrote it: JSON values decoded, the rest as text."""
    info: dict[str, Any] = {}
    for k, v in raw.items():
        text = v.decode()
        try:
            info[k.decode()] = json.loads(text)
        except ValueError:
            info[k.decode()] = text
    return info


def list_workers(conn: Store, dead_after: float = DEAD_AFTER) -> list[WorkerInfo]:
    """Live workers (the reaper's rule, see liveness.py), most recent heartbeat first."""
    with conn.guard():
        secs, micros = conn.redis.time()
        now = secs + micros / 1e6
        beats = conn.redis.zrevrange(conn.keys.workers, 0, -1, withscores=True)
        pipe = conn.redis.pipeline(transaction=False)
        for wid, _ in beats:
            pipe.hgetall(conn.keys.worker(wid.decode()))
        details = pipe.execute()
    out = []
    for (wid, score), raw in zip(beats, details, strict=True):
        if not raw or not is_live(score, now * 1000, dead_after):
            continue  # dead by the reaper's rule, or its registry entry expired
        out.append(
            WorkerInfo(wid.decode(), score / 1000, max(0.0, now - score / 1000), decode_worker_hash(raw))
        )
    return out


@dataclass(frozen=True)
class DeadLetter:
    """One entry of a queue's dead letters."""

    queue: str
    entry: str
    job_id: str
    reason: str
    at: float | None
    function: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "queue": self.queue,
            "id": self.job_id,
            "entry": self.entry,
            "function": self.function,
            "dead_at": iso(self.at),
            "reason": self.reason,
        }


def list_dead(conn: Store, queues: Iterable[str] | None = None, limit: int = 1000) -> list[DeadLetter]:
    """Dead letters of the given queues (default: all declared), oldest first.

    A dead letter written by something else (fields that are not UTF-8, no time)
    is listed as well as it can be, never skipped and never a crash.
    """
    names = list(queues) if queues else conn.declared_queues()
    out: list[DeadLetter] = []
    with conn.guard():
        for name in names:
            keys = conn.keys.queue(name)
            entries = conn.redis.xrange(keys.dead, count=limit)
            ids = [job_id_of(fields.get(b"job", b"")) for _, fields in entries]
            pipe = conn.redis.pipeline(transaction=False)
            for job_id in ids:
                pipe.hget(keys.job(job_id or "-"), "function")
            functions = pipe.execute()
            for (entry, fields), job_id, fn in zip(entries, ids, functions, strict=True):
                reason = _text(fields.get(b"reason"))
                if job_id is None:
                    reason += f" (job field not UTF-8: {fields[b'job'][:64]!r})"
                out.append(DeadLetter(
                    name, entry.decode(), job_id or "", reason, _ms(fields.get(b"at")),
                    _text(fn) if fn else None,
                ))  # fmt: skip
    return out


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _text(value: bytes | None) -> str:
    return (value or b"").decode(errors="replace")


def _ms(value: bytes | None) -> float | None:
    try:
        return int(value) / 1000 if value else None
    except ValueError:
        return None
