"""Enqueueing, written once for both clients: a call becomes a row of enqueue.lua
(prepare_row), and a batch of rows is written all or nothing (enqueue_steps), with its
unique keys and its dependencies' registration; a lone job is one XADD (lone_xadd)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, NoReturn

import redis

from .backend import dependencies, scripts
from .backend.dependencies import Ref
from .backend.entries import FRESH, generated_id, pack_fresh
from .backend.keys import Keyspace, QueueKeys
from .backend.steps import Cmd, Ops, Script, Steps
from .codec import encode_call
from .errors import ConfigurationError, DuplicateJob, JobNotFound, PayloadTooLarge, QueueNotDeclared
from .job import fetch_steps, new_job_id
from .middleware import NO_OPTIONS, EnqueueCall
from .options import JobOptions

#: Jobs per script call in enqueue_many (about 50 ms of server time); every call of a
#: batch goes in one pipeline. A batch of up to this many is written atomically.
ENQUEUE_CHUNK = 5000

#: What a call without options stores (the shared default JobOptions): packed once.
_NO_OPTIONS_BLOB = NO_OPTIONS.blob()

# job id or '', entry value, delay ms, unique, parents, priority level: enqueue.lua
Row = tuple[str, bytes, int, str, str, int]


def prepare_row(call: EnqueueCall, max_payload_bytes: int) -> tuple[Row, JobOptions]:
    """The enqueue.lua values of one call (job id ('' to take the entry id), entry value,
    delay ms, unique key, parents: filled in once they are found), and its options."""
    name, opts = call.function, call.options
    payload = encode_call(call.args, call.kwargs, call.meta)
    if len(payload) > max_payload_bytes:
        raise PayloadTooLarge(
            f"the arguments of {name} encode to {len(payload)} bytes, more than the limit of "
            f"{max_payload_bytes} bytes (connect(max_payload_bytes=...)); pass a reference "
            "(a path, a URL, a key) to large data instead"
        )
    delay = opts.delay_ms()
    # A delayed or deferred job has a record from the start, so it needs its id before it
    # has an entry.
    job_id = opts.job_id or (new_job_id() if delay or opts.depends_on else "")
    mode = "!" if opts.on_duplicate == "raise" else "="  # see enqueue.lua
    unique = "" if opts.unique_key is None else mode + opts.unique_key
    stored = _NO_OPTIONS_BLOB if opts is NO_OPTIONS else opts.blob()
    blob = pack_fresh(name, payload, stored, opts.job_id)
    return (job_id, blob, delay, unique, "", opts.priority or 0), opts


def _parents_json(opts: JobOptions, parents: Sequence[Ref]) -> str:
    """The parents value of enqueue.lua for a dependent (flow.lua's flow_defer)."""
    pairs = [[p.queue, p.job_id] for p in parents]
    return json.dumps({"parents": pairs, "allow_failure": opts.allow_failure})


def _check_unique_batch(options: Sequence[JobOptions]) -> None:
    """A unique key named twice in a batch returns the first call's job for the second,
    unless one of them asks to raise: then DuplicateJob, before anything is written."""
    seen: dict[str, JobOptions] = {}
    for opts in options:
        if opts.unique_key is None:
            continue
        first = seen.get(opts.unique_key)
        seen.setdefault(opts.unique_key, opts)
        if first is not None and "raise" in (first.on_duplicate, opts.on_duplicate):
            raise DuplicateJob(f"the batch names unique key {opts.unique_key!r} twice")


def enqueue_steps(
    keyspace: Keyspace, keys: QueueKeys, prepared: Sequence[tuple[Row, JobOptions]]
) -> Steps[list[tuple[str, bool]]]:
    """Write the prepared rows (see _row) all or nothing: (job id, is a duplicate) each.

    A batch of up to ENQUEUE_CHUNK rows is one script call. A larger one is checked
    whole first (one more round trip), then written in calls of ENQUEUE_CHUNK rows in
    one pipeline: a writer that creates one of its ids between the check and the write
    gets that call refused while the other calls go through. Calls with depends_on are
    registered with their parents first and told the parents final by then after. (The
    clients send a lone job's one XADD themselves: see lone_xadd.)
    """
    if not prepared:
        return []
    chosen = _check_batch(prepared)
    links = yield from _links_steps(keyspace, keys.name, prepared)
    rows = [
        (*row[:4], _parents_json(opts, [p for p, d in links if d.job_id == row[0]]), row[5])
        if opts.depends_on
        else row
        for row, opts in prepared
    ]
    try:
        if links:
            states = yield from dependencies.register_steps(keyspace, links)
            for (parent, _), state in zip(links, states, strict=True):
                if state == "missing":
                    raise JobNotFound(
                        f"depends_on names job {parent.job_id!r} of queue {parent.queue!r}, "
                        "which does not exist"
                    )
        if len(rows) <= ENQUEUE_CHUNK:  # one script call: no pipeline needed
            entries = yield Script(scripts.enqueue(keys, rows))
        else:
            yield from _check_free(keys, chosen)
            chunks = range(0, len(rows), ENQUEUE_CHUNK)
            replies = yield Ops([scripts.enqueue(keys, rows[i : i + ENQUEUE_CHUNK]) for i in chunks])
            entries = [entry for reply in replies for entry in reply]
    except redis.ResponseError as exc:
        raise_for(keys.name, exc)
    if links:
        yield from dependencies.settle_new_steps(keyspace, links)
    out = []
    for row, entry in zip(rows, entries, strict=True):
        if entry.startswith("!"):  # its unique key is held by that job
            out.append((entry[1:], True))
        else:  # a job to run now is known by its queue and entry, unless it has an id of its own
            out.append((row[0] or generated_id(keys.name, entry), False))
    return out


def lone_xadd(keys: QueueKeys, prepared: Sequence[tuple[Row, JobOptions]]) -> tuple[Any, ...] | None:
    """The one command that writes ``prepared`` when it is a lone job, else None; both clients
    send it alone, without enqueue.lua or the step driver, and read its reply with lone_written.

    A lone job runs now, with a generated id, no unique key, no parents and level 0: its fresh
    entry is all it writes, so one XADD does what the script would. NOMKSTREAM stands for the
    script's declared check: declare creates the stream (with its group) and drop_queue.lua
    deletes it with the config, in one call. The entry value comes last (its size is sent).
    """
    if len(prepared) != 1:
        return None
    job_id, blob, delay, unique, parents, level = prepared[0][0]
    if job_id or delay or unique or parents or level:
        return None
    return ("XADD", keys.stream, "NOMKSTREAM", "*", FRESH, blob)


def lone_written(keys: QueueKeys, reply: Any) -> list[tuple[str, bool]]:
    """What enqueue_steps returns for a lone job, from the reply of its lone_xadd."""
    if reply is None:
        raise QueueNotDeclared(keys.name)
    return [(generated_id(keys.name, reply.decode() if isinstance(reply, bytes) else reply), False)]


def _check_batch(prepared: Sequence[tuple[Row, JobOptions]]) -> list[str]:
    """The chosen job ids of a batch; DuplicateJob when one is named twice, or a unique key
    twice where one of its calls asks to raise."""
    chosen = [row[0] for row, _ in prepared if row[0]]
    seen: set[str] = set()
    for job_id in chosen:
        if job_id in seen:
            raise DuplicateJob(f"the batch names job id {job_id!r} twice")
        seen.add(job_id)
    _check_unique_batch([opts for _, opts in prepared])
    return chosen


def _links_steps(
    keyspace: Keyspace, queue: str, prepared: Sequence[tuple[Row, JobOptions]]
) -> Steps[list[tuple[Ref, Ref]]]:
    """(parent, dependent) for each parent of each call with depends_on."""
    links = []
    for row, opts in prepared:
        for parent in opts.depends_on or ():
            if isinstance(parent, str):
                found = yield from fetch_steps(keyspace, parent, None)
                ref = Ref(found, parent)
            elif isinstance(getattr(parent, "id", None), str) and isinstance(
                getattr(parent, "queue", None), str
            ):
                ref = Ref(parent.queue, parent.id)  # a Job of either client
            else:
                raise ConfigurationError(f"depends_on takes Jobs or job ids, got {parent!r}")
            links.append((ref, Ref(queue, row[0])))
    return links


def _check_free(keys: QueueKeys, ids: Sequence[str]) -> Steps[None]:
    """Raise DuplicateJob naming the first of ``ids`` taken by a job (one round trip)."""
    found = yield Ops([c for i in ids for c in (Cmd("HEXISTS", keys.ids, i), Cmd("EXISTS", keys.job(i)))])
    for job_id, queued, recorded in zip(ids, found[0::2], found[1::2], strict=True):
        if queued or recorded:
            raise DuplicateJob(f"a job with id {job_id!r} already exists in queue {keys.name!r}")


def raise_for(queue: str, error: redis.ResponseError) -> NoReturn:
    if isinstance(error, redis.exceptions.OutOfMemoryError):
        raise error  # enqueue.lua is refused whole; the connection names the server
    text = str(error)
    if text.startswith("NOQUEUE"):
        raise QueueNotDeclared(queue) from None
    if text.startswith("DUPLICATE"):
        job_id = text.partition(" ")[2]
        raise DuplicateJob(f"a job with id {job_id!r} already exists in queue {queue!r}")
    if text.startswith("UNIQUE"):
        holder, _, key = text.partition(" ")[2].partition(" ")
        raise DuplicateJob(f"job {holder!r} of queue {queue!r} holds unique key {key!r}", job_id=holder)
    raise error
