"""Middleware: hook order, what a hook may change, hook errors, the envelope's meta, loading specs."""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import logging
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest

from rqueues import middleware
from rqueues.codec import decode_call, decode_envelope, encode_call, encode_error, pack_value
from rqueues.errors import ConfigurationError, JobFailed, SerializationError
from rqueues.functions import FunctionRegistry
from rqueues.middleware import (
    ENV,
    EnqueueCall,
    Middleware,
    RunContext,
    RunOutcome,
    add_middleware,
    check_meta,
    install_specs,
    installed,
    load_middleware,
    remove_middleware,
    run_after_enqueue,
    run_before_enqueue,
)
from rqueues.options import JobOptions
from rqueues.worker.execution import Claimed, Outcome, run_job
from rqueues.worker.hooks import notify_retry, with_middleware

SEEN: list[tuple[Any, ...]] = []
VAR: contextvars.ContextVar[str] = contextvars.ContextVar("VAR", default="unset")


@pytest.fixture(autouse=True)
def registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[Any, ...]]]:
    """An empty middleware list for each test, and no $RQUEUES_MIDDLEWARE."""
    monkeypatch.setattr(middleware, "_chain", ())
    monkeypatch.setattr(middleware, "_specs", {})
    monkeypatch.setattr(middleware, "_env_loaded", False)
    monkeypatch.delenv(ENV, raising=False)
    SEEN.clear()
    yield SEEN
    SEEN.clear()


class Log(Middleware):
    """Appends (its name, the hook, what the hook got) to SEEN; ``raises`` names hooks that raise."""

    def __init__(self, name: str = "m", raises: tuple[str, ...] = ()) -> None:
        self.name = name
        self.raises = raises

    def _saw(self, hook: str, *what: Any) -> None:
        SEEN.append((self.name, hook, *what))
        if hook in self.raises:
            raise RuntimeError(f"{self.name} refuses in {hook}")

    def before_enqueue(self, call: EnqueueCall) -> None:
        call.meta[self.name] = "1"
        self._saw("before_enqueue", call.function)

    def after_enqueue(self, call: EnqueueCall, job: Any) -> None:
        self._saw("after_enqueue", job)

    def before_run(self, ctx: RunContext) -> None:
        VAR.set(self.name)
        self._saw("before_run", ctx.job_id, ctx.attempts, dict(ctx.meta))

    def after_run(self, ctx: RunContext, outcome: RunOutcome) -> None:
        error = type(outcome.error).__name__ if outcome.error else None
        self._saw("after_run", outcome.state, outcome.result, error)

    def on_failure(self, ctx: RunContext, exc: BaseException) -> None:
        self._saw("on_failure", type(exc).__name__)

    def on_retry(self, ctx: RunContext, error: JobFailed, delay: float) -> None:
        self._saw("on_retry", ctx.job_id, dict(ctx.meta), error.exc_type, error.message, delay)


def claimed(
    function: str, args: tuple[Any, ...] = (), meta: dict[str, str] | None = None, **kw: Any
) -> Claimed:
    payload = encode_call(args, {}, meta)
    return Claimed(
        "default", "1-0", "job-1", function, payload, kw.pop("attempts", 1), kw.pop("options", {}), 60, **kw
    )


def hooks_only() -> list[tuple[Any, ...]]:
    return [s[:2] for s in SEEN]


# -- order -----------------------------------------------------------------------------


def test_enqueue_hooks_run_before_in_order_and_after_in_reverse() -> None:
    a, b = add_middleware(Log("a")), add_middleware(Log("b"))
    calls = run_before_enqueue("default", [("tasks:add", (1, 2), {})])
    run_after_enqueue(calls, ["job-1"])
    assert hooks_only() == [
        ("a", "before_enqueue"),
        ("b", "before_enqueue"),
        ("b", "after_enqueue"),
        ("a", "after_enqueue"),
    ]
    assert calls[0].meta == {"a": "1", "b": "1"}
    remove_middleware(a)
    remove_middleware(b)
    assert installed() == ()


def test_run_hooks_wrap_the_function_like_nested_with_blocks() -> None:
    add_middleware(Log("a"))
    add_middleware(Log("b"))
    outcome = run_job(claimed("tasks:add", (1, 2), {"trace": "t"}), FunctionRegistry(["tasks"]))
    assert outcome.state == "succeeded"
    assert SEEN == [
        ("a", "before_run", "job-1", 1, {"trace": "t"}),
        ("b", "before_run", "job-1", 1, {"trace": "t"}),
        ("b", "after_run", "succeeded", 3, None),
        ("a", "after_run", "succeeded", 3, None),
    ]


def test_a_failed_run_calls_on_failure_then_after_run_in_reverse() -> None:
    add_middleware(Log("a"))
    add_middleware(Log("b"))
    outcome = run_job(claimed("tasks:fail"), FunctionRegistry(["tasks"]))
    assert outcome.state == "failed"
    assert SEEN[2:] == [
        ("b", "on_failure", "ValueError"),
        ("b", "after_run", "failed", None, "ValueError"),
        ("a", "on_failure", "ValueError"),
        ("a", "after_run", "failed", None, "ValueError"),
    ]


def test_the_same_middleware_is_installed_once() -> None:
    m = Log()
    add_middleware(m)
    add_middleware(m)
    assert installed() == (m,)
    with pytest.raises(ConfigurationError, match=r"not an rqueues\.Middleware"):
        add_middleware(object())  # type: ignore[arg-type]


# -- errors ----------------------------------------------------------------------------


def test_before_run_that_raises_fails_the_run_and_the_function_is_not_called() -> None:
    add_middleware(Log("a"))
    add_middleware(Log("b", raises=("before_run",)))
    add_middleware(Log("c"))
    outcome = run_job(claimed("tasks:add", (1, 2)), FunctionRegistry(["tasks"]))
    assert outcome.state == "failed"
    assert "RuntimeError" in outcome.exception_names  # retried by the policy like any failure
    assert not outcome.permanent
    # b was not entered, c never ran; a, entered, is told of the failure.
    assert hooks_only() == [("a", "before_run"), ("b", "before_run"), ("a", "on_failure"), ("a", "after_run")]


def test_after_hooks_that_raise_are_logged_and_the_outcome_stands(caplog: pytest.LogCaptureFixture) -> None:
    add_middleware(Log("a"))
    add_middleware(Log("b", raises=("after_run", "on_failure", "after_enqueue")))
    with caplog.at_level(logging.ERROR, "rqueues.middleware"):
        assert run_job(claimed("tasks:add", (1, 2)), FunctionRegistry(["tasks"])).state == "succeeded"
        assert run_job(claimed("tasks:fail"), FunctionRegistry(["tasks"])).state == "failed"
        calls = run_before_enqueue("default", [("tasks:add", (1, 2), {})])
        run_after_enqueue(calls, ["job-1"])
    assert ("a", "after_run", "succeeded", 3, None) in SEEN  # a still ran after b raised
    assert ("a", "after_enqueue", "job-1") in SEEN
    assert sum("refuses" in r.getMessage() or r.exc_info is not None for r in caplog.records) == 4


def test_before_enqueue_that_raises_refuses_the_batch() -> None:
    add_middleware(Log("a", raises=("before_enqueue",)))
    with pytest.raises(RuntimeError, match="a refuses in before_enqueue"):
        run_before_enqueue("default", [("tasks:add", (1, 2), {})])


def test_before_enqueue_may_change_options_and_meta_and_bad_ones_are_refused() -> None:
    class Options(Middleware):
        def __init__(self, value: Any) -> None:
            self.value = value

        def before_enqueue(self, call: EnqueueCall) -> None:
            call.options = self.value(call.options) if callable(self.value) else self.value

    m = add_middleware(Options(lambda o: dataclasses.replace(o, retries=4)))
    [call] = run_before_enqueue("default", [("tasks:add", (1,), {}, JobOptions(timeout=5))])
    assert call.options == JobOptions(timeout=5, retries=4)
    remove_middleware(m)
    add_middleware(Options({"retries": 4}))
    with pytest.raises(ConfigurationError, match="not JobOptions"):
        run_before_enqueue("default", [("tasks:add", (1,), {})])


@pytest.mark.parametrize(
    ("meta", "problem"),
    [
        ({"k": 1}, "must be a str"),
        ({"bad key": "v"}, "key 'bad key' is invalid"),
        ({"": "v"}, "is invalid"),
        ({"k" * 65: "v"}, "is invalid"),
        ({f"k{i}": "v" for i in range(33)}, "33 items, more than the limit of 32"),
        ({"k": "v" * 5000}, "5001 bytes, more than the limit of 4096"),
        (["k"], "must be a dict"),
    ],
)
def test_meta_a_hook_sets_is_checked(meta: Any, problem: str) -> None:
    class Setter(Middleware):
        def before_enqueue(self, call: EnqueueCall) -> None:
            call.meta = meta

    add_middleware(Setter())
    with pytest.raises(ConfigurationError, match=problem):
        run_before_enqueue("default", [("tasks:add", (1,), {})])


def test_meta_at_its_limits_is_accepted() -> None:
    assert check_meta({f"k{i}": "v" for i in range(32)})
    assert check_meta({"traceparent": "v" * (4096 - 11)})


def test_enqueue_side_still_checks_the_shape_of_calls_without_middleware() -> None:
    with pytest.raises(ConfigurationError, match=r"expected \(fn, args, kwargs"):
        run_before_enqueue("default", [("tasks:add",)])
    with pytest.raises(ConfigurationError, match="JobOptions as the 4th item"):
        run_before_enqueue("default", [("tasks:add", (), {}, {"retries": 1})])


# -- the envelope ----------------------------------------------------------------------


def test_an_envelope_without_meta_is_the_three_item_one() -> None:
    assert encode_call((1,), {"a": 2}) == pack_value([1, [1], {"a": 2}])
    assert encode_call((1,), {"a": 2}, {}) == pack_value([1, [1], {"a": 2}])
    assert decode_envelope(pack_value([1, [1], {"a": 2}])) == ([1], {"a": 2}, {})


def test_an_envelope_carries_meta_and_old_readers_of_the_call_still_decode_it() -> None:
    blob = encode_call((1,), {}, {"traceparent": "00-ab-cd-01"})
    assert decode_envelope(blob) == ([1], {}, {"traceparent": "00-ab-cd-01"})
    assert decode_call(blob) == ([1], {})


@pytest.mark.parametrize(
    "value",
    [[1, [], {}, {"k": 1}], [1, [], {}, ["k"]], [1, [], {}, {}, {}], [1, [], {}, {1: "v"}]],
)
def test_a_malformed_envelope_meta_is_a_serialization_error(value: list[Any]) -> None:
    with pytest.raises(SerializationError, match="cannot decode job payload"):
        decode_envelope(pack_value(value))


# -- the run side ----------------------------------------------------------------------


def test_without_middleware_the_function_is_not_wrapped() -> None:
    def fn() -> None:
        return None

    assert with_middleware(fn, claimed("tasks:noop"), {}) is fn


def test_async_run_hooks_run_inside_the_jobs_task() -> None:
    """A contextvar set in before_run is seen by the coroutine: the hooks share its context."""
    add_middleware(Log("a"))

    async def job() -> str:
        await asyncio.sleep(0)
        return VAR.get()

    wrapped = with_middleware(job, claimed("tasks:noop"), {})
    assert asyncio.iscoroutinefunction(wrapped)
    assert asyncio.run(wrapped()) == "a"
    assert SEEN[-1] == ("a", "after_run", "succeeded", "a", None)


def test_a_plain_function_returning_an_awaitable_is_finished_after_it_is_awaited() -> None:
    add_middleware(Log("a"))

    async def inner() -> int:
        return 7

    wrapped = with_middleware(lambda: inner(), claimed("tasks:noop"), {})
    awaitable = wrapped()
    assert hooks_only() == [("a", "before_run")]
    assert asyncio.run(awaitable) == 7
    assert SEEN[-1] == ("a", "after_run", "succeeded", 7, None)


def test_async_job_run_by_run_job_reports_its_result() -> None:
    add_middleware(Log("a"))
    outcome = run_job(claimed("tasks:async_add", (2, 3)), FunctionRegistry(["tasks"]))
    assert outcome.state == "succeeded"
    assert SEEN[-1] == ("a", "after_run", "succeeded", 5, None)


def test_a_sync_job_past_its_timeout_is_a_failure_for_the_hooks_too() -> None:
    add_middleware(Log("a"))
    job = claimed("tasks:add", (1, 2), options={"timeout": 1.0}, started=time.monotonic() - 5)
    outcome = run_job(job, FunctionRegistry(["tasks"]))
    assert outcome.state == "failed" and "JobTimeout" in outcome.exception_names
    assert SEEN[-1] == ("a", "after_run", "failed", None, "JobTimeout")


def test_notify_retry_gives_the_stored_error_the_delay_and_the_meta() -> None:
    add_middleware(Log("a"))
    job = claimed("tasks:fail", meta={"trace": "t"}, attempts=2)
    blob = encode_error("ValueError", "boom", "Traceback ...")
    notify_retry(Outcome(job, "retry", blob, delay_ms=1500))
    notify_retry(Outcome(job, "failed", blob))  # final: no retry hook
    assert SEEN == [("a", "on_retry", "job-1", {"trace": "t"}, "ValueError", "boom", 1.5)]


def test_notify_retry_survives_a_hook_that_raises(caplog: pytest.LogCaptureFixture) -> None:
    add_middleware(Log("a"))
    add_middleware(Log("b", raises=("on_retry",)))
    with caplog.at_level(logging.ERROR, "rqueues.middleware"):
        notify_retry(Outcome(claimed("tasks:fail"), "retry", encode_error("E", "m", ""), delay_ms=10))
    assert hooks_only() == [("b", "on_retry"), ("a", "on_retry")]
    assert any("on_retry" in r.getMessage() for r in caplog.records)


# -- loading ---------------------------------------------------------------------------


INSTANCE = Log("instance")


def factory() -> Middleware:
    return Log("factory")


def test_load_middleware_takes_an_instance_a_class_or_a_factory() -> None:
    here = __name__
    assert load_middleware(f"{here}:INSTANCE") is INSTANCE
    made = load_middleware(f"{here}:factory")
    cls = load_middleware(f"{here}:Log")
    assert isinstance(made, Log) and made.name == "factory"
    assert isinstance(cls, Log) and cls.name == "m"
    assert load_middleware(f"{here}:Log") is cls  # the same spec loads once
    assert installed() == (INSTANCE, made, cls)


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("nocolon", "expected 'module:object'"),
        ("no_such_module_x:m", "cannot import module 'no_such_module_x'"),
        ("tasks:no_such_thing", "module 'tasks' has no 'no_such_thing'"),
        ("tasks:add", "could not be created"),
        ("tasks:__doc__", "not an rqueues.Middleware"),
    ],
)
def test_a_spec_that_does_not_load_names_the_problem(spec: str, problem: str) -> None:
    with pytest.raises(ConfigurationError, match=problem):
        load_middleware(spec)


def test_the_environment_is_installed_at_first_use_and_a_bad_one_fails_runs_not_the_worker(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(ENV, f"{__name__}:INSTANCE, {__name__}:factory")
    assert [type(m) for m in installed()] == [Log, Log]
    assert installed()[0] is INSTANCE

    monkeypatch.setattr(middleware, "_chain", ())
    monkeypatch.setattr(middleware, "_env_loaded", False)
    monkeypatch.setenv(ENV, "no_such_module_x:m")
    outcome = run_job(claimed("tasks:add", (1, 2)), FunctionRegistry(["tasks"]))
    assert outcome.state == "failed" and "ConfigurationError" in outcome.exception_names


def test_install_specs_passes_its_specs_on_to_child_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, f"{__name__}:INSTANCE")
    install_specs([f"{__name__}:factory", f"{__name__}:INSTANCE"])

    assert os.environ[ENV] == f"{__name__}:INSTANCE,{__name__}:factory"
    assert len(installed()) == 2
