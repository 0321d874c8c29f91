"""Middleware: hooks around every enqueue and every run of a job, in every process.

A middleware subclasses ``Middleware`` and overrides the hooks it needs; the others
are no-ops. The list is process-wide (``add_middleware``), so a worker's spawned
children, which import the same modules, install the same middleware, and so does
any process whose environment names it in ``RQUEUES_MIDDLEWARE``.

Order: ``before_*`` hooks run in registration order, the others (``after_enqueue``,
``on_failure``, ``after_run``, ``on_retry``) in reverse, so the first middleware
registered wraps all the others, like nested ``with`` blocks. See docs/middleware.md.
"""

from __future__ import annotations

import importlib
import logging
import os
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import defaults
from .errors import ConfigurationError, JobFailed
from .functions import function_name
from .options import JobOptions

log = logging.getLogger("rqueues.middleware")

#: Comma-separated ``module:object`` specs every rqueues process installs at its first
#: enqueue or run; ``rqueues worker --middleware`` adds its own for its child processes.
ENV = "RQUEUES_MIDDLEWARE"

NO_OPTIONS = JobOptions()
_META_KEY = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


@dataclass
class EnqueueCall:
    """One job about to be enqueued, as ``before_enqueue`` sees it.

    A hook may replace ``options`` (``dataclasses.replace(call.options, retries=3)``)
    and add to ``meta``, which travels in the job's payload envelope to the worker
    (``RunContext.meta``): str keys (letters, digits, ``_.-``, at most 64) to str values,
    at most ``MAX_META_ITEMS`` items and ``MAX_META_BYTES`` bytes in all.
    """

    queue: str
    function: str  # "module:qualname"
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    options: JobOptions = NO_OPTIONS
    meta: dict[str, str] = field(default_factory=dict)


@dataclass
class RunContext:
    """One run (attempt) of a job, as the run hooks see it.

    ``state`` is scratch space for middleware to carry what its ``after_run`` needs
    from its ``before_run`` (use a key of your own); it lives for this run only.
    """

    job_id: str
    queue: str
    function: str
    attempts: int  # this attempt's number, from 1
    meta: dict[str, str]
    options: dict[str, Any]  # the job's stored options (timeout, retries, ...)
    state: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RunOutcome:
    """How a run ended: ``succeeded`` with ``result``, or ``failed`` with ``error``."""

    state: str
    result: Any = None
    error: BaseException | None = None


class Middleware:
    """Base class of middleware: every hook is a no-op; override those you need.

    Errors: an exception from ``before_enqueue`` refuses the whole enqueue (nothing is
    written; it reaches the caller as raised); one from ``before_run`` fails the run as
    if the job had raised it (retried by the policy, the function is not called). An
    exception from any other hook is logged and ignored: the job was already written
    or has already run, and its outcome stands.
    """

    def before_enqueue(self, call: EnqueueCall) -> None:
        """Before the job is encoded: may change ``call.options`` and add to ``call.meta``."""

    def after_enqueue(self, call: EnqueueCall, job: Any) -> None:
        """After the batch holding the job was written; ``job`` is its ``rqueues.Job``."""

    def before_run(self, ctx: RunContext) -> None:
        """In the process and thread (or task, for ``async def``) that runs the job, just
        before its function is called; ``rqueues.current_job()`` is set."""

    def after_run(self, ctx: RunContext, outcome: RunOutcome) -> None:
        """Just after the function returned or raised, where it ran; only for middleware
        whose ``before_run`` returned."""

    def on_failure(self, ctx: RunContext, exc: BaseException) -> None:
        """The function raised ``exc`` (or ran past its timeout); before ``after_run``.
        Called for every failed attempt, whether or not it will be retried."""

    def on_retry(self, ctx: RunContext, error: JobFailed, delay: float) -> None:
        """The failed attempt will be retried in ``delay`` seconds; in the worker process
        (not a child that ran the job), with the attempt's error as stored."""


_lock = threading.Lock()
_env_lock = threading.Lock()
_chain: tuple[Middleware, ...] = ()
_specs: dict[str, Middleware] = {}  # module:object specs already loaded
_env_loaded = False


def add_middleware(middleware: Middleware) -> Middleware:
    """Install ``middleware`` in this process, after those already installed; returns it.
    Adding the same object twice installs it once."""
    global _chain
    if not isinstance(middleware, Middleware):
        raise ConfigurationError(f"{middleware!r} is not an rqueues.Middleware (subclass rqueues.Middleware)")
    with _lock:
        if not any(m is middleware for m in _chain):
            _chain = (*_chain, middleware)
    return middleware


def remove_middleware(middleware: Middleware) -> None:
    """Uninstall ``middleware`` (nothing happens when it is not installed)."""
    global _chain
    with _lock:
        _chain = tuple(m for m in _chain if m is not middleware)


def installed() -> tuple[Middleware, ...]:
    """The middleware of this process in registration order; loads ``$RQUEUES_MIDDLEWARE``
    the first time (ConfigurationError naming a spec that does not load)."""
    global _env_loaded
    if not _env_loaded:
        with _env_lock:  # another thread's first enqueue waits until the list is complete
            if not _env_loaded:
                for spec in parse_specs(os.environ.get(ENV, "")):
                    load_middleware(spec)
                _env_loaded = True
    return _chain


def install_specs(specs: Sequence[str]) -> None:
    """Install the middleware of ``$RQUEUES_MIDDLEWARE``, then ``specs`` (``module:object``
    each), and add ``specs`` to ``$RQUEUES_MIDDLEWARE`` so that child processes this
    process starts (executors that run jobs in children) install them too."""
    installed()
    for spec in specs:
        load_middleware(spec)
    known = parse_specs(os.environ.get(ENV, ""))
    added = [s for s in specs if s not in known]
    if added:
        os.environ[ENV] = ",".join([*known, *added])


def parse_specs(text: str) -> list[str]:
    return [s.strip() for s in text.split(",") if s.strip()]


def load_middleware(spec: str) -> Middleware:
    """Import ``module:object`` and install it: a Middleware instance, a subclass (called
    with no arguments) or a function returning one. Loading the same spec again returns
    the object installed the first time."""
    known = _specs.get(spec)
    if known is not None:
        return add_middleware(known)
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ConfigurationError(
            f"invalid middleware {spec!r}: expected 'module:object', e.g. 'myapp.mw:audit'"
        )
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigurationError(
            f"cannot import module {module_name!r} of middleware {spec!r}: {exc}"
        ) from exc
    for part in attr.split("."):
        if not hasattr(target, part):
            raise ConfigurationError(f"module {module_name!r} has no {attr!r} (middleware {spec!r})")
        target = getattr(target, part)
    if not isinstance(target, Middleware) and callable(target):
        try:
            target = target()
        except Exception as exc:
            raise ConfigurationError(f"middleware {spec!r} could not be created: {exc}") from exc
    if not isinstance(target, Middleware):
        raise ConfigurationError(f"middleware {spec!r} is {target!r}, not an rqueues.Middleware")
    _specs[spec] = target
    return add_middleware(target)


def check_meta(meta: object) -> dict[str, str]:
    """``meta`` if it is what an envelope may carry; else ConfigurationError saying why."""
    if not isinstance(meta, dict):
        raise ConfigurationError(f"job metadata must be a dict of str to str, got {type(meta).__name__}")
    if len(meta) > defaults.MAX_META_ITEMS:
        raise ConfigurationError(
            f"job metadata has {len(meta)} items, more than the limit of {defaults.MAX_META_ITEMS}"
        )
    size = 0
    for key, value in meta.items():
        if not isinstance(key, str) or not _META_KEY.match(key):
            raise ConfigurationError(
                f"job metadata key {key!r} is invalid: 1 to 64 letters, digits, '_', '.' or '-'"
            )
        if not isinstance(value, str):
            raise ConfigurationError(
                f"job metadata {key!r} must be a str, got {type(value).__name__}: metadata carries text only"
            )
        size += len(key.encode()) + len(value.encode())
    if size > defaults.MAX_META_BYTES:
        raise ConfigurationError(
            f"job metadata takes {size} bytes, more than the limit of {defaults.MAX_META_BYTES}: "
            "it is for context such as trace ids; pass data as arguments"
        )
    return meta


# -- the enqueue side: one implementation for every client ------------------------------


def run_before_enqueue(queue: str, calls: Iterable[Sequence[Any]]) -> list[EnqueueCall]:
    """Parse ``(fn, args, kwargs[, JobOptions])`` calls and run every ``before_enqueue``
    hook on each. A hook that raises refuses the whole batch (nothing is written yet)."""
    chain = installed()
    out = []
    for raw in calls:
        call = _parse(queue, raw)
        for m in chain:
            m.before_enqueue(call)
        if chain:
            if not isinstance(call.options, JobOptions):
                raise ConfigurationError(
                    f"middleware set the options of a job to {call.options!r}, not JobOptions"
                )
            check_meta(call.meta)
        out.append(call)
    return out


def run_after_enqueue(calls: Sequence[EnqueueCall], jobs: Sequence[Any]) -> None:
    """Every ``after_enqueue`` hook, in reverse order, for each written job; never raises."""
    chain = _chain
    if not chain:
        return
    for call, job in zip(calls, jobs, strict=True):
        for m in reversed(chain):
            try:
                m.after_enqueue(call, job)
            except Exception:
                log.exception("middleware %r failed in after_enqueue of job %s", m, getattr(job, "id", "?"))


def _parse(queue: str, call: Sequence[Any]) -> EnqueueCall:
    if not 3 <= len(call) <= 4:
        raise ConfigurationError(f"expected (fn, args, kwargs[, JobOptions]), got {call!r}")
    opts = call[3] if len(call) == 4 else NO_OPTIONS
    if not isinstance(opts, JobOptions):
        raise ConfigurationError(f"expected JobOptions as the 4th item, got {opts!r}")
    return EnqueueCall(queue, function_name(call[0]), tuple(call[1]), dict(call[2]), opts, {})
