"""The layering rule of docs/internals.md: a layer imports only the layers below it, and no
module imports itself back through others."""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "rqueues"

#: Lowest first. A module's layer is its subpackage; top-level modules are core or api.
LAYERS = ("core", "backend", "api", "worker", "observe", "aio", "tasks", "web", "quickstart", "cli")
API = {"queue", "job", "record", "connection", "admin", "cron", "enqueueing"}
#: Top-level modules of a layer above the api: the decorator enqueues with either client.
TOP = {"task": "tasks"}
FACADES = {"rqueues", "rqueues.worker", "rqueues.cli", "rqueues.cli.__main__", "rqueues.worker.executors"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 2 and parts[1] in API:
        return "api"
    if len(parts) == 2 and parts[1] in TOP:
        return TOP[parts[1]]
    if len(parts) >= 2 and parts[1] in LAYERS:
        return parts[1]
    return "core"


def imports(source: str, module: str, is_package: bool = False) -> set[str]:
    """Modules of rqueues that ``source`` (the text of ``module``) imports, at any depth."""
    package = module if is_package else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "rqueues":
                continue
            submodules = [f"{target}.{a.name}" for a in node.names if is_module(f"{target}.{a.name}")]
            found |= set(submodules) if len(submodules) == len(node.names) else {target}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "rqueues"}
    return found - {module}


def is_module(dotted: str) -> bool:
    path = PACKAGE.parent / dotted.replace(".", "/")
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


@functools.cache
def graph() -> dict[str, set[str]]:
    return {
        module_name(p): imports(p.read_text(), module_name(p), p.name == "__init__.py")
        for p in PACKAGE.rglob("*.py")
    }


def test_every_module_has_a_layer_and_subpackages_say_what_they_own() -> None:
    for sub in ("backend", "worker", "observe", "web", "cli", "quickstart"):
        doc = ast.get_docstring(ast.parse((PACKAGE / sub / "__init__.py").read_text()))
        assert doc, f"rqueues/{sub}/__init__.py has no docstring"


@pytest.mark.parametrize("module", sorted(graph()))
def test_a_layer_imports_only_the_layers_below_it(module: str) -> None:
    if module in FACADES:
        return  # the public facades re-export names from every layer
    mine = LAYERS.index(layer(module))
    higher = sorted(t for t in graph()[module] if LAYERS.index(layer(t)) > mine and t not in FACADES)
    assert not higher, f"{module} ({layer(module)}) imports higher layers: {higher}"
    facades = sorted(t for t in graph()[module] if t in FACADES)
    assert not facades, f"{module} imports a facade (import the defining module instead): {facades}"


def test_no_import_cycles() -> None:
    edges = {m: {t for t in targets if t not in FACADES} for m, targets in graph().items()}
    edges = {m: {t for t in ts if t in edges} for m, ts in edges.items()}
    done: set[str] = set()
    path: list[str] = []

    def visit(node: str) -> None:
        if node in path:
            raise AssertionError("import cycle: " + " -> ".join([*path[path.index(node) :], node]))
        if node in done:
            return
        path.append(node)
        for nxt in sorted(edges[node]):
            visit(nxt)
        path.pop()
        done.add(node)

    for module in sorted(edges):
        visit(module)


def test_the_rule_itself_sees_a_climbing_import() -> None:
    """A backend module importing the worker, even inside a function, would be reported."""
    source = "def f():\n    from ..worker.reaper import Reaper\n"
    found = imports(source, "rqueues.backend.scripts")
    assert found == {"rqueues.worker.reaper"}
    assert LAYERS.index(layer("rqueues.worker.reaper")) > LAYERS.index(layer("rqueues.backend.scripts"))
    assert imports("from .. import defaults\n", "rqueues.backend.store") == {"rqueues.defaults"}
