"""A script call as data (Call), and sending many in one round trip (Batch, Pending)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Call(Generic[T]):
    """One script call: which script, its KEYS and ARGV, and how to read its reply."""

    name: str
    keys: Sequence[str]
    args: Sequence[Any]
    parse: Callable[[Any], T]


class Pending(Generic[T]):
    """The reply of a call in a Batch, available once the batch has executed."""

    def __init__(self, parse: Callable[[Any], T]) -> None:
        self._parse = parse
        self._value: T | None = None
        self._error: Exception | None = None
        self._set = False
        self.best_effort = False

    def _fill(self, raw: Any) -> None:
        self._set = True
        if isinstance(raw, Exception):
            self._error = raw
        else:
            self._value = self._parse(raw)

    @property
    def error(self) -> Exception | None:
        return self._error

    def get(self) -> T:
        """The parsed reply; raises the error Redis answered with."""
        if not self._set:
            raise RuntimeError("the batch has not been executed")
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]


class Sender(Protocol):
    """What a Batch sends through: scripts.Scripts."""

    def send(self, name: str, keys: Sequence[str], args: Sequence[Any], client: Any = None) -> Any: ...

    def execute(self, pipe: Any) -> list[Any]: ...


class Batch:
    """Script calls and plain commands sent in one round trip by ``execute()``."""

    def __init__(self, scripts: Sender, pipe: Any) -> None:
        self._scripts = scripts
        self.pipe = pipe
        self._pending: list[Pending[Any]] = []

    def add(self, call: Call[T], best_effort: bool = False) -> Pending[T]:
        """Queue ``call``; a ``best_effort`` one's error never raises from execute()."""
        self._scripts.send(call.name, call.keys, call.args, client=self.pipe)
        pending = Pending(call.parse)
        pending.best_effort = best_effort
        self._pending.append(pending)
        return pending

    def command(self, queue_it: Callable[[Any], Any]) -> Pending[Any]:
        """A plain command, queued by ``queue_it(pipeline)``; its raw reply."""
        queue_it(self.pipe)
        pending: Pending[Any] = Pending(lambda raw: raw)
        self._pending.append(pending)
        return pending

    def __len__(self) -> int:
        return len(self._pending)

    def execute(self, raise_first: bool = False) -> None:
        """Send everything; each Pending then holds its reply or its error.

        With ``raise_first`` the first error Redis answered is raised (after every
        reply was read, so the others are still available).
        """
        sent, self._pending = self._pending, []
        if not sent:
            return
        replies = self._scripts.execute(self.pipe)
        for pending, raw in zip(sent, replies, strict=True):
            pending._fill(raw)
        if raise_first:
            for pending in sent:
                if pending.error is not None and not pending.best_effort:
                    raise pending.error
