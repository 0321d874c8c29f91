"""Read-only views for the CLI and scripts: jobs by state, workers."""

from __future__ import annotations

import dataclasses
import heapq
import itertools
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, overload

from ..backend.deliveries import jobs_of_steps
from ..backend.entries import job_id_of, read_entry
from ..backend.keys import Keyspace
from ..backend.pages import Hit, Index, index_of
from ..backend.steps import Cmd, Ops, Recorder, Steps
from ..backend.store import Store
from ..checks import check_int
from ..defaults import MAX_PAGE
from ..errors import ConfigurationError
from ..job import STATES
from ..liveness import DEAD_AFTER, is_live
from ..record import JobRecord, Progress, iso
from .cursor import Cursor

#: ``rqueues jobs`` without --state: running, then queued, then scheduled jobs, then
#: every final state merged newest first.
ALL_STATES = (
    ("running",), ("queued",), ("scheduled",), ("deferred",), ("succeeded", "failed", "cancelled", "dead"),
)  # fmt: skip


@dataclass(frozen=True)
class JobPage(Sequence[JobRecord]):
    """One page of a listing: its jobs, and the cursor of the next page (None: the last)."""

    jobs: tuple[JobRecord, ...]
    next_cursor: str | None

    @overload
    def __getitem__(self, i: int) -> JobRecord: ...
    @overload
    def __getitem__(self, i: slice) -> tuple[JobRecord, ...]: ...
    def __getitem__(self, i: int | slice) -> JobRecord | tuple[JobRecord, ...]:
        return self.jobs[i]

    def __len__(self) -> int:
        return len(self.jobs)


def list_jobs(
    conn: Store,
    queues: Iterable[str] | None = None,
    state: str | None = None,
    limit: int = 100,
    cursor: str | None = None,
) -> JobPage:
    """One page of the jobs of the given queues (default: all declared) in ``state``,
    read from each queue's index of that state (pages.py), never from a SCAN: a page
    costs a few round trips and O(log n + limit) whatever the number of jobs.

    Order: running jobs newest delivery first, queued ones next to run first, scheduled
    ones soonest due first, finished and dead ones newest first, the queues merged.
    Without ``state``: running, then queued, then scheduled, then every final state.
    Pass the page's ``next_cursor`` as ``cursor`` to get the next page; a page may hold
    fewer than ``limit`` jobs when an index outlived a record (an expired result).
    """
    return conn.run(list_jobs_steps(conn.keys, queues, state, limit, cursor))


def list_jobs_steps(
    keyspace: Keyspace,
    queues: Iterable[str] | None = None,
    state: str | None = None,
    limit: int = 100,
    cursor: str | None = None,
) -> Steps[JobPage]:
    """list_jobs as steps, for the asyncio client too."""
    if state is not None and state not in STATES:
        raise ConfigurationError(f"unknown state {state!r}; expected one of {', '.join(STATES)}")
    check_int("limit", limit, 1, MAX_PAGE)
    phases = ((state,),) if state else ALL_STATES
    at = Cursor.decode(cursor, state) if cursor else Cursor(state)
    if not 0 <= at.phase < len(phases):
        raise ConfigurationError(f"invalid cursor {cursor!r}: no such page")
    if queues:
        names = list(queues)
    else:
        (members,) = yield Ops([Cmd("SMEMBERS", keyspace.queues)])
        names = sorted(n.decode() for n in members)
    hits, after = yield from _hits(keyspace, names, phases, at, limit)
    records = yield from _records(keyspace, hits)
    return JobPage(tuple(records), after.encode() if after else None)


def job_row(record: JobRecord) -> dict[str, Any]:
    """A job as a row of a table: its JSON, with progress as text (``42% loading``)."""
    return {**record.to_json(), "progress": progress_text(record.progress, record.attempts)}


def progress_text(progress: Progress | None, attempts: int) -> str | None:
    """``42% loading``; a report of an earlier attempt than the job's last says which."""
    if progress is None:
        return None
    text = progress.text()
    return text if progress.attempt in (0, attempts) else f"{text} (attempt {progress.attempt})"


def _hits(
    keyspace: Keyspace, names: list[str], phases: tuple[tuple[str, ...], ...], at: Cursor, limit: int
) -> Steps[tuple[list[Hit], Cursor | None]]:
    """Up to ``limit`` hits from ``at`` on, phase after phase, and where the next page starts."""
    hits: list[Hit] = []
    phase, marks, done = at.phase, dict(at.marks), set(at.done)
    while phase < len(phases) and len(hits) < limit:
        sources = [(q, s) for q in names for s in phases[phase] if (q, s) not in done]
        indexes = [index_of(keyspace.queue(q), s, marks.get((q, s))) for q, s in sources]
        got, read = yield from _merge(indexes, limit - len(hits))
        hits += got
        for source, (mark, ended) in zip(sources, read, strict=True):
            marks[source] = mark
            if ended:
                done.add(source)
        if not done.issuperset(sources):
            break
        phase, marks, done = phase + 1, {}, set()
    if phase == len(phases):
        return hits, None
    return hits, Cursor(at.state, phase, {k: m for k, m in marks.items() if m is not None}, frozenset(done))


def _merge(indexes: list[Index], count: int) -> Steps[tuple[list[Hit], list[tuple[Any, bool]]]]:
    """The first ``count`` hits of the indexes merged in listing order, and per index its
    new mark and whether it was read to its end."""
    found = yield from _read(indexes, count + 1)  # one more tells whether an index goes on
    newest_first = bool(indexes) and indexes[0].newest_first
    ranked = [[(h.order[0], i, h.order[1], h) for h in hs] for i, hs in enumerate(found)]
    merged = heapq.merge(*ranked, key=lambda r: r[:3], reverse=newest_first)
    taken = [r[3] for r in itertools.islice(merged, count)]
    read = []
    for ix, hs in zip(indexes, found, strict=True):
        mine = [h for h in taken if h.queue == ix.keys.name and h.state == ix.state]
        read.append((mine[-1].mark if mine else ix.mark, len(mine) == len(hs) and len(hs) <= count))
    return taken, read


def _read(indexes: list[Index], count: int) -> Steps[list[list[Hit]]]:
    """Up to ``count`` hits of each index, in two pipelined rounds: look, then read."""
    pipe = Recorder()
    looks = []
    for ix in indexes:
        start = len(pipe)
        ix.look(pipe)
        looks.append((start, len(pipe)))
    looked = yield Ops(pipe.items, raise_first=False)
    pipe = Recorder()
    reads = []
    for ix, (a, b) in zip(indexes, looks, strict=True):
        start = len(pipe)
        ix.read(pipe, looked[a:b], count)
        reads.append((start, len(pipe)))
    replies = yield Ops(pipe.items, raise_first=False)
    return [ix.hits(replies[a:b]) for ix, (a, b) in zip(indexes, reads, strict=True)]


def _records(keyspace: Keyspace, hits: list[Hit]) -> Steps[list[JobRecord]]:
    """The records of the page's jobs, one pipeline (after one more for running deliveries,
    whose job id is in their stream entry); a job whose record is gone or no longer in
    the listed state is left out."""
    ids = [h.job_id for h in hits]
    unknown = [i for i, h in enumerate(hits) if h.job_id is None and h.entry]
    found = yield from jobs_of_steps([(keyspace.queue(hits[i].queue), hits[i].entry or "") for i in unknown])
    for i, job in zip(unknown, found, strict=True):
        ids[i] = job
    listed = [(h, j) for h, j in zip(hits, ids, strict=True) if j is not None]
    raws = yield Ops([Cmd("HGETALL", keyspace.queue(h.queue).job(job_id)) for h, job_id in listed])
    records = []
    for (h, job_id), raw in zip(listed, raws, strict=True):
        record = JobRecord.from_hash(h.queue, job_id, raw) if raw else None
        if record is not None and h.state == "scheduled":  # its score is its due time
            record = dataclasses.replace(record, due_at=float(h.order[0]) / 1000)
        if record is None and h.state == "queued":
            record = _from_entry(h)
        if record is not None and record.state == h.state:
            records.append(record)
    return records


def _from_entry(hit: Hit) -> JobRecord | None:
    """A waiting job with no record yet, as its fresh stream entry describes it."""
    entry = read_entry(hit.queue, hit.entry or "", hit.fields)
    return JobRecord.from_entry(hit.queue, entry) if entry is not None and entry.fresh else None


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


def worker_gpus(value: Any) -> dict[str, tuple[str, ...]]:
    """A worker's ``gpus`` as its heartbeat wrote it (device -> ids of the jobs holding it)."""
    if not isinstance(value, dict):
        return {}
    return {str(d): tuple(str(j) for j in jobs) for d, jobs in value.items() if isinstance(jobs, list)}


def gpus_text(gpus: Mapping[str, Sequence[str]] | None) -> str | None:
    """``0:JOB,1:-``: each device and the job(s) holding it, for a table."""
    if not gpus:
        return None
    return ",".join(f"{d}:{'+'.join(jobs) or '-'}" for d, jobs in gpus.items())


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
