"""Naming job functions, and resolving names only within the modules a worker imported."""

from __future__ import annotations

import functools
import importlib
import re
from collections.abc import Callable, Iterable
from types import ModuleType
from typing import Any, cast

from .errors import ConfigurationError, UnknownFunction

_NAME = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


def function_name(fn: Callable[..., Any] | str) -> str:
    """The "module:qualname" a worker resolves; refuses what a worker could not find."""
    try:
        return _named(fn)
    except TypeError:  # an unhashable callable: named each time
        return _name_of(fn)


@functools.lru_cache(maxsize=4096)
def _named(fn: Callable[..., Any] | str) -> str:
    """function_name, once per function: a batch names the same few thousands of times
    (a refused name raises, and is not kept)."""
    return _name_of(fn)


def _name_of(fn: Callable[..., Any] | str) -> str:
    if isinstance(fn, str):
        if not _NAME.match(fn):
            raise ConfigurationError(
                f"invalid function name {fn!r}: expected 'module:function', e.g. 'myapp.tasks:resize'"
            )
        return fn
    module = getattr(fn, "__module__", None)
    qualname = getattr(fn, "__qualname__", None)
    if not callable(fn) or not module or not qualname:
        raise ConfigurationError(f"cannot enqueue {fn!r}: expected a module-level function")
    if "<lambda>" in qualname or "<locals>" in qualname:
        raise ConfigurationError(
            f"cannot enqueue {module}:{qualname}: lambdas and nested functions cannot be "
            "found by a worker; define the function at module level"
        )
    if module == "__main__":
        raise ConfigurationError(
            f"cannot enqueue __main__:{qualname}: a worker cannot import the __main__ "
            "module; move the function into a module and start workers with --import it"
        )
    return f"{module}:{qualname}"


class FunctionRegistry:
    """Resolves job function names, but only inside the modules it was given."""

    def __init__(self, modules: Iterable[str] = ()) -> None:
        self._modules: dict[str, ModuleType] = {}
        self._cache: dict[str, Callable[..., Any]] = {}
        for name in modules:
            try:
                self._modules[name] = importlib.import_module(name)
            except ImportError as exc:
                raise ConfigurationError(f"cannot import module {name!r} given with --import: {exc}") from exc

    @property
    def modules(self) -> list[str]:
        return sorted(self._modules)

    def resolve(self, name: str) -> Callable[..., Any]:
        fn = self._cache.get(name)
        if fn is not None:
            return fn
        module_name, _, qualname = name.partition(":")
        module = self._modules.get(module_name)
        if module is None or not qualname:
            raise UnknownFunction(
                f"function {name!r} is not allowed: module {module_name!r} was not imported by "
                f"this worker (start the worker with --import {module_name}); "
                f"imported: {', '.join(self.modules) or 'none'}"
            )
        target: Any = module
        for part in qualname.split("."):
            # Stepping into a module the imported one uses (tasks:os.system) or into a
            # dunder (fn.__globals__) would reach code no --import allowed.
            if part.startswith("__") or (target is not module and isinstance(target, ModuleType)):
                raise UnknownFunction(
                    f"function {name!r} is not allowed: only names defined in module "
                    f"{module_name!r} itself may run, not attributes of other modules or dunders"
                )
            target = getattr(target, part, None)
            if target is None:
                raise UnknownFunction(f"module {module_name!r} has no function {qualname!r}")
        if not callable(target):
            raise UnknownFunction(f"{name!r} is not callable")
        # A @task runs as its function: an async def must stay a coroutine function here.
        fn = cast("Callable[..., Any]", getattr(target, "_rqueues_fn", target))
        self._cache[name] = fn
        return fn
