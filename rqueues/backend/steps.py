"""Client logic written once, run by the sync and the asyncio client alike.

A piece of logic that talks to Redis (find a job, wait for it, enqueue a batch) is
a generator: it yields a ``Step`` (one round trip) and gets the step's reply back,
then returns its result. ``drive`` runs it on a blocking client; the asyncio client
(rqueues/aio) has the same loop with ``await``. So the decisions live in one place
and only the sending differs.

    def state(keys, job_id) -> Steps[str | None]:
        found, recorded = yield Ops([Cmd("XRANGE", ...), Cmd("HGET", ...)])
        ...
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from .scripts import Call

T = TypeVar("T")


@dataclass(frozen=True)
class Cmd:
    """A plain command, sent with execute_command (redis-py parses its reply by name)."""

    args: tuple[Any, ...]

    def __init__(self, *args: Any) -> None:
        object.__setattr__(self, "args", args)


@dataclass(frozen=True)
class Method:
    """A redis-py command method called by name on a pipeline (``zrange(key, 0, 9,
    withscores=True)``), for commands whose reply redis-py shapes from its arguments."""

    name: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]


class Recorder:
    """Stands for a pipeline: each command method called on it becomes a Method, in order."""

    def __init__(self) -> None:
        self.items: list[Method] = []

    def __len__(self) -> int:
        return len(self.items)

    def __getattr__(self, name: str) -> Callable[..., None]:
        if name.startswith("_"):
            raise AttributeError(name)

        def record(*args: Any, **kwargs: Any) -> None:
            self.items.append(Method(name, args, kwargs))

        return record


@dataclass(frozen=True)
class Ops:
    """Commands and script calls in one round trip; the reply is the list of their replies,
    an error answered by Redis standing as an exception in its place (raise_first raises it)."""

    items: Sequence[Cmd | Method | Call[Any]]
    transaction: bool = False
    raise_first: bool = True


@dataclass(frozen=True)
class Script:
    """One script call; the reply is the call's parsed reply (an error is raised)."""

    call: Call[Any]


@dataclass(frozen=True)
class Block:
    """XREAD BLOCK on one or more streams of one slot; the reply is XREAD's (None on timeout)."""

    streams: Mapping[str, str]
    timeout: float
    count: int = 1000


Step = Ops | Script | Block
Steps = Generator[Step, Any, T]


def advance(steps: Steps[T], reply: Any, error: BaseException | None) -> tuple[bool, Any]:
    """Give ``steps`` the last step's reply (or throw its error in): (True, the result) when
    it returned, else (False, the next step to send)."""
    try:
        return False, steps.throw(error) if error is not None else steps.send(reply)
    except StopIteration as done:
        return True, done.value


def drive(steps: Steps[T], send: Callable[[Step], Any]) -> T:
    """Run ``steps`` to its result, each step sent by ``send`` (errors go back into it)."""
    reply: Any = None
    error: BaseException | None = None
    while True:
        done, value = advance(steps, reply, error)
        if done:
            return value  # type: ignore[no-any-return]
        try:
            reply, error = send(value), None
        except Exception as exc:  # the logic decides what a failed step means
            reply, error = None, exc


def run_on(client: Any, steps: Steps[T]) -> T:
    """Run steps that send no script call on a blocking client (no guard: the caller's)."""
    return drive(steps, lambda step: send_sync(client, None, step))


def first_error(replies: Sequence[Any]) -> Exception | None:
    for reply in replies:
        if isinstance(reply, Exception):
            return reply
    return None


def queue_item(pipe: Any, item: Cmd | Method) -> None:
    """Queue a plain command or a method call on a (sync or asyncio) pipeline."""
    if isinstance(item, Cmd):
        pipe.execute_command(*item.args)
    else:
        getattr(pipe, item.name)(*item.args, **item.kwargs)


def parse_items(items: Sequence[Cmd | Method | Call[Any]], raw: Sequence[Any]) -> list[Any]:
    """Replies of an Ops step: script replies parsed, errors kept as values."""
    out: list[Any] = []
    for item, reply in zip(items, raw, strict=True):
        if isinstance(item, Call) and not isinstance(reply, Exception):
            reply = item.parse(reply)
        out.append(reply)
    return out


def single_command(step: Ops) -> Cmd | None:
    """The step's one plain command when it needs no pipeline: no transaction, and an error
    raised (as a pipeline's first error would be)."""
    items = step.items
    if len(items) == 1 and isinstance(items[0], Cmd) and step.raise_first and not step.transaction:
        return items[0]
    return None


def send_sync(store_client: Any, scripts: Any, step: Step) -> Any:
    """Send one step on a blocking redis-py client (``scripts``: its Scripts)."""
    if isinstance(step, Script):
        return scripts.run(step.call)
    if isinstance(step, Block):
        block = max(1, int(step.timeout * 1000))
        return store_client.xread(dict(step.streams), count=step.count, block=block)
    if (cmd := single_command(step)) is not None:  # a pipeline of one costs more than its command
        return [store_client.execute_command(*cmd.args)]
    if not step.items:
        return []
    pipe = store_client.pipeline(transaction=step.transaction)
    for item in step.items:
        if isinstance(item, Call):
            scripts.send(item.name, item.keys, item.args, client=pipe)
        else:
            queue_item(pipe, item)
    raw = (
        scripts.execute(pipe)
        if any(isinstance(i, Call) for i in step.items)
        else pipe.execute(raise_on_error=False)
    )
    replies = parse_items(step.items, raw)
    if step.raise_first and (error := first_error(replies)) is not None:
        raise error
    return replies
