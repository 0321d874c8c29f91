"""Naming job functions, and resolving names only inside the modules a worker imported."""

from __future__ import annotations

import json
import os
import sys
import types
from collections.abc import Iterator

import pytest
import tasks

from rqueues.errors import ConfigurationError, UnknownFunction
from rqueues.functions import FunctionRegistry, function_name

FAKE = "rqueues_unit_fake_module"


def module_level() -> str:
    return "ok"


class Greeter:
    @staticmethod
    def hello() -> str:
        return "hello"


def test_module_level_function_and_method_are_named() -> None:
    assert function_name(tasks.add) == "tasks:add"
    assert function_name(module_level) == f"{__name__}:module_level"
    assert function_name(Greeter.hello) == f"{__name__}:Greeter.hello"


def test_lambda_refused() -> None:
    with pytest.raises(ConfigurationError) as info:
        function_name(lambda: None)
    assert "lambda" in str(info.value)
    assert "module level" in str(info.value)


def test_nested_function_refused() -> None:
    def inner() -> None:
        return None

    with pytest.raises(ConfigurationError) as info:
        function_name(inner)
    assert "nested" in str(info.value)
    assert "inner" in str(info.value)


def test_main_module_refused() -> None:
    def fn() -> None:
        return None

    fn.__module__ = "__main__"
    fn.__qualname__ = "fn"
    with pytest.raises(ConfigurationError) as info:
        function_name(fn)
    assert "__main__" in str(info.value)
    assert "--import" in str(info.value)


def test_non_callable_refused() -> None:
    with pytest.raises(ConfigurationError) as info:
        function_name(42)  # type: ignore[arg-type]
    assert "module-level function" in str(info.value)


@pytest.mark.parametrize("name", ["tasks:add", "my_app.tasks:resize", "m:Cls.method", "_m:_f"])
def test_valid_string_names_pass(name: str) -> None:
    assert function_name(name) == name


@pytest.mark.parametrize("name", ["tasks.add", "tasks:", ":add", "tasks:add()", "a b:c", "", "tasks::add"])
def test_invalid_string_names_refused(name: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        function_name(name)
    assert repr(name) in str(info.value)
    assert "module:function" in str(info.value)


@pytest.fixture
def fake_module(monkeypatch: pytest.MonkeyPatch) -> Iterator[types.ModuleType]:
    module = types.ModuleType(FAKE)
    module.run = lambda: "ran"  # type: ignore[attr-defined]
    module.CONSTANT = 1  # type: ignore[attr-defined]
    module.os = os  # type: ignore[attr-defined]  # a module the fake imported
    module.json = json  # type: ignore[attr-defined]
    module.Greeter = Greeter  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, FAKE, module)
    yield module


def test_registry_resolves_inside_imported_modules(fake_module: types.ModuleType) -> None:
    registry = FunctionRegistry([FAKE, "tasks"])
    assert registry.resolve(f"{FAKE}:run") is fake_module.run
    assert registry.resolve(f"{FAKE}:Greeter.hello") is Greeter.hello
    assert registry.resolve("tasks:add") is tasks.add
    assert registry.modules == sorted([FAKE, "tasks"])


def test_registry_refuses_modules_not_imported() -> None:
    registry = FunctionRegistry(["tasks"])
    # json is importable and already loaded in this process: still refused.
    with pytest.raises(UnknownFunction) as info:
        registry.resolve("json:dumps")
    message = str(info.value)
    assert "'json:dumps'" in message
    assert "--import json" in message
    assert "tasks" in message  # says what was imported


def test_registry_with_no_modules_refuses_everything() -> None:
    with pytest.raises(UnknownFunction) as info:
        FunctionRegistry().resolve("tasks:add")
    assert "imported: none" in str(info.value)


def test_submodule_of_an_imported_package_is_not_imported() -> None:
    with pytest.raises(UnknownFunction) as info:
        FunctionRegistry(["json"]).resolve("json.decoder:JSONDecoder")
    assert "--import json.decoder" in str(info.value)


def test_unknown_attribute_error_names_module_and_function(fake_module: types.ModuleType) -> None:
    with pytest.raises(UnknownFunction) as info:
        FunctionRegistry([FAKE]).resolve(f"{FAKE}:missing")
    assert repr(FAKE) in str(info.value)
    assert "'missing'" in str(info.value)


def test_non_callable_attribute_refused(fake_module: types.ModuleType) -> None:
    with pytest.raises(UnknownFunction) as info:
        FunctionRegistry([FAKE]).resolve(f"{FAKE}:CONSTANT")
    assert "not callable" in str(info.value)


@pytest.mark.parametrize("path", ["os.system", "json.dumps", "os.path.join"])
def test_registry_never_reaches_into_modules_an_imported_module_uses(
    fake_module: types.ModuleType, path: str
) -> None:
    # Invariant 6 (docs/internals.md): `--import myapp` must not let a job run myapp's `os.system`.
    with pytest.raises(UnknownFunction) as info:
        FunctionRegistry([FAKE]).resolve(f"{FAKE}:{path}")
    assert path in str(info.value)


@pytest.mark.parametrize("path", ["run.__globals__.get", "__builtins__.get", "run.__call__"])
def test_registry_refuses_dunder_attributes(fake_module: types.ModuleType, path: str) -> None:
    with pytest.raises(UnknownFunction):
        FunctionRegistry([FAKE]).resolve(f"{FAKE}:{path}")


def test_unimportable_module_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError) as info:
        FunctionRegistry(["rqueues_no_such_module_anywhere"])
    assert "'rqueues_no_such_module_anywhere'" in str(info.value)
    assert "--import" in str(info.value)
