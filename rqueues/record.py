"""A job's stored record, decoded: what ``Job.record()`` returns and the listings show."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from datetime import time as dt_time
from decimal import Decimal
from typing import Any
from uuid import UUID

from .backend.entries import Entry
from .codec import decode_call, decode_error, decode_result
from .errors import SerializationError
from .options import decode_options


@dataclass(frozen=True)
class Progress:
    """A job's latest progress report, as its worker last wrote it to the record."""

    fraction: float  # 0 to 1
    message: str
    at: float | None  # when the job reported it, epoch seconds (Redis' clock)
    attempt: int  # the attempt that reported it: a retry starts with its predecessor's

    @classmethod
    def from_hash(cls, raw: Mapping[bytes, bytes | None]) -> Progress | None:
        """The progress fields of a record (None when it never reported or they are malformed)."""
        value = raw.get(b"progress")
        if value is None:
            return None
        try:
            at = raw.get(b"progress_at")
            return cls(
                float(value),
                (raw.get(b"progress_msg") or b"").decode(errors="replace"),
                int(at) / 1000 if at else None,
                int(raw.get(b"progress_attempt") or 0),
            )
        except ValueError:
            return None

    def to_json(self) -> dict[str, Any]:
        at = iso(self.at)
        return {"fraction": self.fraction, "message": self.message, "at": at, "attempt": self.attempt}

    def text(self) -> str:
        """For a person: ``42% loading shards``."""
        return f"{self.fraction * 100:.0f}%" + (f" {self.message}" if self.message else "")


PROGRESS_FIELDS = ("progress", "progress_msg", "progress_at", "progress_attempt")


@dataclass(frozen=True)
class JobRecord:
    """A job's stored record, decoded. Times are seconds since the epoch."""

    id: str
    queue: str
    function: str
    state: str
    attempts: int
    enqueued_at: float | None
    started_at: float | None
    finished_at: float | None
    worker: str | None
    timeout: float | None
    result_ttl: int | None
    raw_result: bytes | None
    raw_error: bytes | None
    raw_payload: bytes | None
    reason: str | None = None
    reclaims: int = 0
    options: dict[str, Any] = field(default_factory=dict)
    raw_errors: tuple[tuple[int, bytes], ...] = ()
    progress: Progress | None = None
    gpus: tuple[str, ...] = ()  # the GPU devices its (last) run was given
    parents: tuple[tuple[str, str], ...] = ()  # (queue, job id) of each job it depends on
    dependents: tuple[tuple[str, str], ...] = ()  # (queue, job id) of each job depending on it
    parent_states: tuple[str | None, ...] = ()  # each parent's final state, once told
    allow_failure: bool = False

    @property
    def unique_key(self) -> str | None:
        key = self.options.get("unique_key")
        return key if isinstance(key, str) else None

    due_at: float | None = None  # a scheduled job's due time (its score in the scheduled set)

    @classmethod
    def from_hash(cls, queue: str, job_id: str, raw: Mapping[bytes, bytes]) -> JobRecord:
        def text(field: str) -> str | None:
            v = raw.get(field.encode())
            return v.decode() if v is not None else None

        def ms(field: str) -> float | None:
            v = raw.get(field.encode())
            return int(v) / 1000 if v is not None else None

        options = decode_options(raw.get(b"options"))
        history = sorted(
            (int(k[6:]), v) for k, v in raw.items() if k.startswith(b"error.") and k[6:].isdigit()
        )
        return cls(
            id=job_id,
            queue=queue,
            function=text("function") or "",
            state=text("state") or "",
            attempts=int(raw.get(b"attempts", 0)),
            enqueued_at=ms("enqueued_at"),
            started_at=ms("started_at"),
            finished_at=ms("finished_at"),
            worker=text("worker"),
            timeout=options.get("timeout"),
            result_ttl=options.get("result_ttl"),
            raw_result=raw.get(b"result"),
            raw_error=raw.get(b"error"),
            raw_payload=raw.get(b"payload"),
            reason=text("reason"),
            reclaims=int(raw.get(b"reclaims", 0)),
            options=options,
            raw_errors=tuple(history),
            progress=Progress.from_hash(raw),
            gpus=tuple(g for g in (text("gpus") or "").split(",") if g),
            parents=_refs(raw.get(b"parents")),
            dependents=_refs(raw.get(b"dependents")),
            parent_states=tuple(text(f"parent.{i}") for i in range(1, len(_refs(raw.get(b"parents"))) + 1)),
            allow_failure=b"allow_failure" in raw,
        )

    @classmethod
    def from_entry(cls, queue: str, entry: Entry) -> JobRecord:
        """A job that waits in its fresh stream entry alone (it has no record yet)."""
        options = decode_options(entry.options)
        return cls(
            id=entry.job_id, queue=queue, function=entry.function, state="queued", attempts=0,
            enqueued_at=entry.enqueued_ms / 1000, started_at=None, finished_at=None, worker=None,
            timeout=options.get("timeout"), result_ttl=options.get("result_ttl"), raw_result=None,
            raw_error=None, raw_payload=entry.payload, options=options,
        )  # fmt: skip

    @property
    def result(self) -> Any:
        return decode_result(self.raw_result) if self.raw_result is not None else None

    @property
    def errors(self) -> list[dict[str, Any]]:
        """Each failed or interrupted attempt's error, oldest first, with its attempt number."""
        return [{"attempt": n, **decode_error(blob)} for n, blob in self.raw_errors]

    @property
    def error(self) -> dict[str, str] | None:
        if self.state == "dead":
            return {"type": "DeadLettered", "message": self.reason or "", "traceback": ""}
        return decode_error(self.raw_error) if self.raw_error else None

    def call(self) -> tuple[list[Any], dict[str, Any]] | None:
        """The call's arguments, or None when the payload cannot be decoded."""
        try:
            return decode_call(self.raw_payload) if self.raw_payload else None
        except SerializationError:
            return None

    def to_json(self) -> dict[str, Any]:
        """Plain data for --json output; times as ISO 8601 UTC."""
        err = self.error
        return {
            "id": self.id,
            "queue": self.queue,
            "function": self.function,
            "state": self.state,
            "attempts": self.attempts,
            "enqueued_at": iso(self.enqueued_at),
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "due_at": iso(self.due_at),
            "worker": self.worker,
            "result": self._result_json() if self.state == "succeeded" else None,
            "error": err,
            "errors": self.errors,
            "reclaims": self.reclaims,
            "progress": self.progress.to_json() if self.progress else None,
            "gpus": list(self.gpus),
            "reason": self.reason,
            "unique_key": self.unique_key,
            "parents": [
                {"queue": q, "id": j, "state": s}
                for (q, j), s in zip(self.parents, self.parent_states, strict=False)
            ],
            "allow_failure": self.allow_failure,
            "dependents": [{"queue": q, "id": j} for q, j in self.dependents],
        }

    def _result_json(self) -> Any:
        try:
            return _jsonable(self.result)
        except SerializationError as exc:  # a value type this process has no codec for
            return f"<{exc}>"


def _refs(raw: bytes | None) -> tuple[tuple[str, str], ...]:
    """A record's JSON list of [queue, job id] pairs (parents, dependents)."""
    if not raw:
        return ()
    try:
        return tuple((str(q), str(j)) for q, j in json.loads(raw))
    except (ValueError, TypeError):
        return ()


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="milliseconds")


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, (datetime, date, dt_time)):
        return value.isoformat()
    if isinstance(value, (UUID, Decimal, timedelta)):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value
